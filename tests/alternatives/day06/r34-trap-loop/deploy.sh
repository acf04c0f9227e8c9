#!/usr/bin/env bash
# deploy.sh -- build, swap, check, promote; an EXIT trap rolls back whatever was not promoted.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

usage() {
  cat <<'TXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TXT
}
stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { echo "$(stamp) [$1] ${*:2}"; }
bad() { usage >&2; echo "error: $*" >&2; exit 2; }

decimal_ok() {
  case $1 in
    +([0-9]) | +([0-9]).+([0-9]) | .+([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
build_opts=()
run_opts=()
positional=()

while [[ $# -gt 0 ]]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --build-arg | --label | --image | --name | --port | --context | --state-file | --retries | --interval | --timeout | --docker)
      [[ $# -ge 2 ]] || bad "$1 needs a value"
      case $1 in
        --build-arg) build_opts+=("--build-arg=$2") ;;
        --label) run_opts+=("--label=$2") ;;
        *) cfg[${1#--}]=$2 ;;
      esac
      shift 2 ;;
    -?*) bad "unknown option ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

[[ ${#positional[@]} -eq 1 ]] || bad "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
case $version in
  [A-Za-z0-9_]*([A-Za-z0-9_.-])) [[ ${#version} -le 128 ]] || bad "tag longer than 128 characters" ;;
  *) bad "not a valid tag: $version" ;;
esac
# glob brackets depend on the locale: check byte by byte too
LC_ALL=C
[[ $version == [A-Za-z0-9_]*([A-Za-z0-9_.-]) ]] || bad "not a valid tag: $version"

case ${cfg[port]} in
  +([0-9])) ;;
  *) bad "port must be a number: ${cfg[port]}" ;;
esac
port=${cfg[port]##+(0)}
if [[ -z $port || ${#port} -gt 5 ]] || ((port > 65535)); then
  bad "port out of range 1-65535: ${cfg[port]}"
fi

case ${cfg[retries]} in
  +([0-9])) ;;
  *) bad "retries must be a positive integer: ${cfg[retries]}" ;;
esac
retries=${cfg[retries]##+(0)}
[[ -n $retries ]] || bad "retries must be positive: ${cfg[retries]}"
# more checks than 64-bit arithmetic holds: cap it, it is "keep checking" in practice
((${#retries} <= 18)) || retries=999999999999999999
decimal_ok "${cfg[interval]}" || bad "interval must be a positive number: ${cfg[interval]}"
decimal_ok "${cfg[timeout]}" || bad "timeout must be a positive number: ${cfg[timeout]}"

image=${cfg[image]}
name=${cfg[name]}
state_file=${cfg[state-file]}
docker_bin=${cfg[docker]}

previous=
if [[ -f $state_file ]]; then
  read -r previous <"$state_file" || true
fi

if [[ -n $previous && "$previous" == "$version" ]]; then
  say ERROR "$version is the version already serving; refusing to rebuild or replace it"
  exit 1
fi

docker_do() { "$docker_bin" "$@" >&2; }

phase=start # start -> built -> stopped -> running -> promoted
on_exit() {
  local rc=$?
  case $phase in
    stopped | running)
      say ERROR "rollback: removing $name-$version"
      docker_do rm -f "$name-$version" || say ERROR "rollback: docker rm -f $name-$version failed"
      if [[ -n $previous ]]; then
        if docker_do start "$name-$previous"; then
          say INFO "rollback: $name-$previous started again"
        else
          say ERROR "rollback: docker start $name-$previous failed"
        fi
      fi
      exit 1 ;;
    promoted) exit 0 ;;
    *) ((rc == 0 || rc == 2)) && exit "$rc"; exit 1 ;;
  esac
}
trap on_exit EXIT

say INFO "build $image:$version (context ${cfg[context]})"
docker_do build -t "$image:$version" "${build_opts[@]}" "${cfg[context]}" || { say ERROR "build failed"; exit 1; }
phase=built

if [[ -n $previous ]]; then
  say INFO "stop $name-$previous"
  docker_do stop "$name-$previous" || say WARN "docker stop $name-$previous failed; carrying on"
fi
phase=stopped

say INFO "run $name-$version on 127.0.0.1:$port"
docker_do run --detach --name "$name-$version" --publish "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version" ||
  { say ERROR "$name-$version did not start"; exit 1; }
phase=running

attempt=0
ok=no
while ((attempt < retries)); do
  attempt=$((attempt + 1))
  code=$(curl -s -o /dev/null -w '%{http_code}' -m "${cfg[timeout]}" "http://127.0.0.1:$port/health") || true
  if [[ $code == 200 ]]; then
    say INFO "health $attempt/$retries: 200"
    ok=yes
    break
  fi
  say WARN "health $attempt/$retries: ${code:-none}"
  ((attempt >= retries)) || sleep "${cfg[interval]}"
done
[[ $ok == yes ]] || { say ERROR "$name-$version is not healthy after $retries checks"; exit 1; }

if [[ -n $previous ]]; then
  say INFO "remove $name-$previous"
  docker_do rm -f "$name-$previous" || say WARN "docker rm -f $name-$previous failed; $version serves all the same"
fi
state_dir=$(dirname -- "$state_file")
tmp=$(mktemp "$state_dir/.deployed.XXXXXX")
printf '%s\n' "$version" >"$tmp"
mv -f -- "$tmp" "$state_file"
phase=promoted
say INFO "promoted $image:$version"
