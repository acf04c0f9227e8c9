#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back on failure.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

declare -A opt=(
  [image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}"
)
declare -a build_args=() run_labels=() positional=()

show_usage() {
  printf '%s\n' \
    "usage: deploy.sh [options] VERSION" \
    "  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)" \
    "  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS" \
    "  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)"
}

bad_usage() {
  printf 'deploy.sh: %s\n' "$*" >&2
  show_usage >&2
  exit 2
}

note() {
  local when
  printf -v when '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s %s\n' "$when" "$*"
}

export TZ=UTC0

while (($#)); do
  case $1 in
    -h | --help)
      show_usage
      exit 0 ;;
    --build-arg | --label | --image | --name | --port | --context | --state-file | --retries | --interval | \
      --timeout | --docker)
      (($# > 1)) || bad_usage "missing value for $1"
      case $1 in
        --build-arg) build_args+=("--build-arg=$2") ;;
        --label) run_labels+=("--label=$2") ;;
        *) opt[${1#--}]=$2 ;;
      esac
      shift 2 ;;
    --) shift; positional+=("$@"); break ;;
    -?*) bad_usage "unknown option ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || bad_usage "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
decimal_re='^([0-9]+\.?[0-9]*|\.[0-9]+)$'
nonzero_re='[1-9]'
[[ $version =~ $tag_re ]] || bad_usage "VERSION is not a valid image tag: $version"
[[ ${opt[port]} =~ ^[0-9]{1,5}$ ]] || bad_usage "bad --port: ${opt[port]}"
port=$((10#${opt[port]}))
((port >= 1 && port <= 65535)) || bad_usage "--port out of range: ${opt[port]}"
[[ ${opt[retries]} =~ ^[0-9]{1,9}$ && ${opt[retries]} =~ $nonzero_re ]] || bad_usage "bad --retries: ${opt[retries]}"
retries=$((10#${opt[retries]}))
for key in interval timeout; do
  [[ ${opt[$key]} =~ $decimal_re && ${opt[$key]} =~ $nonzero_re ]] || bad_usage "bad --$key: ${opt[$key]}"
done

image=${opt[image]}
name=${opt[name]}
state_file=${opt[state-file]}
new_container="$name-$version"
previous=
if [[ -f $state_file ]]; then
  read -r previous <"$state_file" || true
fi
[[ $version != "$previous" ]] || { note "ERROR $version is already serving, nothing to deploy"; exit 1; }
old_container=${previous:+$name-$previous}

docker_cmd() {
  "${opt[docker]}" "$@" 1>&2
}

phase=start
finish() {
  local code=$?
  if [[ $phase == swapping ]]; then
    note "ERROR rollback of $new_container started"
    docker_cmd rm -f "$new_container" || note "ERROR rollback: docker rm -f $new_container failed"
    if [[ -n $old_container ]]; then
      docker_cmd start "$old_container" || note "ERROR rollback: docker start $old_container failed"
    fi
    note "ERROR rollback finished; ${old_container:-nothing} serving"
    exit 1
  fi
  exit "$code"
}
trap finish EXIT

probe_until_healthy() {
  local left=$retries status
  while :; do
    status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "http://127.0.0.1:$port/health") \
      || status=${status:-000}
    note "INFO health check of $new_container: $status ($((left - 1)) left)"
    [[ $status != 200 ]] || return 0
    left=$((left - 1))
    ((left > 0)) || return 1
    sleep "${opt[interval]}"
  done
}

note "INFO build $image:$version from ${opt[context]}"
phase=build
if ! docker_cmd build --tag "$image:$version" "${build_args[@]}" "${opt[context]}"; then
  note "ERROR build failed, ${old_container:-nothing} left serving"
  exit 1
fi

phase=swapping
if [[ -n $old_container ]]; then
  note "INFO stop $old_container"
  docker_cmd stop "$old_container"
fi
note "INFO run $new_container on 127.0.0.1:$port"
docker_cmd run -d --name "$new_container" -p "127.0.0.1:$port:8000" "${run_labels[@]}" "$image:$version"
if ! probe_until_healthy; then
  note "ERROR $new_container never became healthy"
  exit 1
fi

phase=promoting
if [[ -n $old_container ]]; then
  note "INFO remove $old_container"
  docker_cmd rm -f "$old_container" || note "WARN could not remove $old_container"
fi
printf '%s\n' "$version" >"$state_file.new.$$"
mv -f -- "$state_file.new.$$" "$state_file"
phase=promoted
note "INFO $new_container promoted"
