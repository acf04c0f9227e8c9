#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
shopt -s extglob
export LC_ALL=C   # ASCII character ranges for the tag check, whatever the caller's locale

readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

declare -A opt=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state_file]=.deployed-version
                [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
declare -a build_args=() labels=() secrets=() args=()
version='' previous='' state_dir=''

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad() { printf '%s\n%s\n' "deploy.sh: $1" "$USAGE" >&2; exit 2; }

decimal_ok() {
  case $1 in
    +([0-9])?(.*([0-9])) | .+([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}
count_ok() {
  case $1 in
    +([0-9])) local n=${1##+(0)}; [[ -n $n ]] && ((${#n} < 19)) ;;
    *) return 1 ;;
  esac
}

parse() {
  local key
  while (($#)); do
    case $1 in
      -h|--help) echo "$USAGE"; exit 0 ;;
      --image|--name|--port|--context|--state-file|--retries|--interval|--timeout|--docker)
        (($# > 1)) || bad "$1 needs a value"
        key=${1#--}; opt[${key//-/_}]=$2; shift 2 ;;
      --build-arg)
        (($# > 1)) || bad "$1 needs a value"
        build_args+=("--build-arg=$2"); [[ $2 != *=* ]] || secrets+=("${2#*=}"); shift 2 ;;
      --label)
        (($# > 1)) || bad "$1 needs a value"
        labels+=("--label=$2"); shift 2 ;;
      -?*) bad "unknown option ${1%%=*}" ;;
      *) args+=("$1"); shift ;;
    esac
  done
  ((${#args[@]} == 1)) || bad "expected exactly one VERSION, got ${#args[@]}"
  version=${args[0]}
  [[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad "bad VERSION (not an image tag)"
  { count_ok "${opt[port]}" && ((10#${opt[port]} <= 65535)); } || bad "bad --port ${opt[port]}"
  opt[port]=$((10#${opt[port]}))
  count_ok "${opt[retries]}" || bad "bad --retries ${opt[retries]}"
  opt[retries]=$((10#${opt[retries]}))
  decimal_ok "${opt[interval]}" || bad "bad --interval ${opt[interval]}"
  decimal_ok "${opt[timeout]}" || bad "bad --timeout ${opt[timeout]}"
  [[ -n ${opt[docker]} ]] || bad "empty --docker"
}

# docker's own output goes to stderr, with every build-arg value masked
docker_() {
  local s rc=0 out
  out=$(timeout 600 "${opt[docker]}" "$@" 2>&1) || rc=$?
  for s in "${secrets[@]}"; do
    [[ -z $s ]] || out=${out//"$s"/***}
  done
  [[ -z $out ]] || printf '%s\n' "$out" >&2
  return "$rc"
}

rollback() {
  say ERROR "rollback: $1; rolling back $version"
  docker_ rm -f "${opt[name]}-$version" || say ERROR "rollback: docker rm -f ${opt[name]}-$version failed"
  if [[ -n $previous ]]; then
    docker_ start "${opt[name]}-$previous" || say ERROR "rollback: docker start ${opt[name]}-$previous failed"
  fi
  say ERROR "rollback finished, deploy of $version failed"
  exit 1
}

wait_healthy() {
  local n=0 code
  while ((n < opt[retries])); do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${opt[timeout]}" -m "${opt[timeout]}" \
      "http://127.0.0.1:${opt[port]}/health") || code=${code:-000}
    [[ $code != 200 ]] || { say INFO "health check $n: 200"; return 0; }
    say WARN "health check $n of ${opt[retries]}: ${code}"
    ((n >= opt[retries])) || sleep "${opt[interval]}"
  done
  return 1
}

record() {
  local tmp
  state_dir=$(dirname -- "${opt[state_file]}")
  tmp=$(mktemp "$state_dir/.deployed.XXXXXX")
  printf '%s\n' "$version" >"$tmp"
  mv -f -- "$tmp" "${opt[state_file]}"
}

main() {
  parse "$@"
  if [[ -f ${opt[state_file]} ]]; then
    previous=$(<"${opt[state_file]}")
    previous=${previous%%[[:space:]]*}
  fi
  if [[ $previous == "$version" ]]; then
    say ERROR "refusing: $version is the version already serving"
    exit 1
  fi
  local keys=("${build_args[@]#--build-arg=}")
  keys=("${keys[@]%%=*}")
  say INFO "step build: ${opt[image]}:$version build args [${keys[*]}] context ${opt[context]}"
  docker_ build -t "${opt[image]}:$version" "${build_args[@]}" "${opt[context]}" || {
    say ERROR "build failed: nothing changed"; exit 1; }
  if [[ -n $previous ]]; then
    say INFO "step stop: ${opt[name]}-$previous"
    docker_ stop "${opt[name]}-$previous" || say WARN "stop of ${opt[name]}-$previous failed, going on"
  fi
  say INFO "step run: ${opt[name]}-$version on 127.0.0.1:${opt[port]}"
  docker_ run --detach --name "${opt[name]}-$version" --publish "127.0.0.1:${opt[port]}:8000" \
    "${labels[@]}" "${opt[image]}:$version" || rollback "container did not start"
  wait_healthy || rollback "no healthy answer after ${opt[retries]} checks"
  if [[ -n $previous ]]; then
    docker_ rm -f "${opt[name]}-$previous" || say WARN "could not remove ${opt[name]}-$previous (ignored)"
  fi
  record
  say INFO "step done: $version promoted"
}

main "$@"
