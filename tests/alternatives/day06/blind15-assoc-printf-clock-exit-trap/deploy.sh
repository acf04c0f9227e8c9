#!/usr/bin/env bash
# deploy.sh: build, swap, check, promote; an EXIT trap rolls back whatever phase failed.
set -euo pipefail

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
                [retries]=10 [interval]=1 [timeout]=5 [docker]=${DOCKER:-docker})
build_args=()
labels=()
positionals=()
phase=parse
tmp_state=

show_usage() {
  printf '%s\n' \
    "usage: deploy.sh [options] VERSION" \
    "  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)" \
    "  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS" \
    "  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)"
}

bad_usage() {
  printf 'deploy.sh: %s\n' "$1" >&2
  show_usage >&2
  exit 2
}

say() {
  local now
  TZ=UTC0 printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s [%s] %s\n' "$now" "$1" "$2"
}

while (($#)); do
  case $1 in
    -h | --help) show_usage; exit 0 ;;
    --build-arg | --label | --image | --name | --port | --context | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || bad_usage "$1 needs a value"
      case $1 in
        --build-arg) build_args+=("--build-arg=$2") ;;
        --label) labels+=("--label=$2") ;;
        *) cfg[${1#--}]=$2 ;;
      esac
      shift 2
      ;;
    --) shift; positionals+=("$@"); break ;;
    -?*) bad_usage "unknown option ${1%%=*}" ;;
    *) positionals+=("$1"); shift ;;
  esac
done

((${#positionals[@]} == 1)) || bad_usage "expected exactly one VERSION, got ${#positionals[@]}"
version=${positionals[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
num_re='^[0-9]+(\.[0-9]+)?$'
[[ $version =~ $tag_re ]] || bad_usage "not a valid image tag: $version"
[[ ${cfg[port]} =~ ^[0-9]{1,5}$ ]] || bad_usage "bad --port ${cfg[port]}"
port=$((10#${cfg[port]}))
((port >= 1 && port <= 65535)) || bad_usage "--port out of range: $port"
[[ ${cfg[retries]} =~ ^[0-9]{1,9}$ ]] || bad_usage "bad --retries ${cfg[retries]}"
retries=$((10#${cfg[retries]}))
((retries >= 1)) || bad_usage "--retries must be at least 1"
for key in interval timeout; do
  [[ ${cfg[$key]} =~ $num_re && ${cfg[$key]} =~ [1-9] ]] || bad_usage "bad --$key ${cfg[$key]}"
done

image=${cfg[image]}
name=${cfg[name]}
state_file=${cfg[state-file]}
docker_bin=${cfg[docker]}
new_container="$name-$version"
previous=
if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi
[[ $version != "$previous" ]] || { say ERROR "$version is already serving, nothing to deploy"; exit 1; }

engine() {
  "$docker_bin" "$@" 1>&2
}

finish() {
  local rc=$?
  if [[ -n $tmp_state && -e $tmp_state ]]; then rm -f -- "$tmp_state"; fi
  if [[ $phase == started || $phase == checking ]]; then
    say ERROR "rollback of $new_container (phase $phase)"
    engine rm -f "$new_container" || say ERROR "rollback: docker rm -f $new_container failed"
    if [[ -n $previous ]]; then
      engine start "$name-$previous" || say ERROR "rollback: docker start $name-$previous failed"
      say INFO "rollback: $name-$previous restarted"
    fi
    rc=1
  fi
  exit "$rc"
}
trap finish EXIT

probe_once() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -m "${cfg[timeout]}" "http://127.0.0.1:$port/health") || code=000
  [[ $code == 200 ]]
}

phase=build
say INFO "build $image:$version from ${cfg[context]}"
if ! engine build -t "$image:$version" "${build_args[@]}" "${cfg[context]}"; then
  say ERROR "build of $image:$version failed; nothing changed"
  exit 1
fi

phase=swap
if [[ -n $previous ]]; then
  say INFO "stop $name-$previous (kept for a rollback)"
  engine stop "$name-$previous" || say WARN "stop of $name-$previous failed"
fi

phase=started
say INFO "run $new_container on 127.0.0.1:$port"
engine run --detach --name "$new_container" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version" || exit 1

phase=checking
n=0
until probe_once; do
  n=$((n + 1))
  say WARN "health check $n of $retries failed"
  ((n < retries)) || exit 1
  sleep "${cfg[interval]}"
done
say INFO "health check passed"

phase=promote
if [[ -n $previous ]]; then
  engine rm -f "$name-$previous" || say WARN "could not remove $name-$previous"
fi
tmp_state="$state_file.new.$$"
printf '%s\n' "$version" > "$tmp_state"
mv -f -- "$tmp_state" "$state_file"
tmp_state=
phase=promoted
say INFO "$version promoted"
