#!/usr/bin/env bash
# deploy.sh — build VERSION, swap it in on the service port, promote it once healthy,
# otherwise put the previous container back. Exit: 0 promoted, 1 failed, 2 usage.
set -o errexit -o nounset -o pipefail
export TZ=UTC

print_usage() {
  cat <<'TEXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TEXT
}

usage_error() {
  printf 'deploy.sh: %s\n' "$*" >&2
  print_usage >&2
  exit 2
}

note() {
  local when
  printf -v when '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s [%s] %s\n' "$when" "$1" "$2"
}

positive_decimal() {
  case $1 in
    '' | . | *[!0-9.]* | *.*.*) return 1 ;;
  esac
  [[ $1 == *[1-9]* ]]
}

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_bin=${DOCKER:-docker}
declare -a build_opts=() run_opts=() versions=()

while (($#)); do
  case $1 in
    -h | --help) print_usage; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      [[ $# -gt 1 ]] || usage_error "option $1 needs a value"
      value=$2
      case $1 in
        --image) image=$value ;;
        --name) name=$value ;;
        --port) port=$value ;;
        --context) context=$value ;;
        --build-arg) build_opts+=("--build-arg=$value") ;;
        --label) run_opts+=("--label=$value") ;;
        --state-file) state_file=$value ;;
        --retries) retries=$value ;;
        --interval) interval=$value ;;
        --timeout) timeout_s=$value ;;
        --docker) docker_bin=$value ;;
      esac
      shift 2
      ;;
    --) shift; versions+=("$@"); break ;;
    -?*) usage_error "unknown option ${1%%=*}" ;;
    *) versions+=("$1"); shift ;;
  esac
done

[[ ${#versions[@]} -eq 1 ]] || usage_error "give exactly one VERSION (got ${#versions[@]})"
version=${versions[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || usage_error "VERSION '$version' is not a valid image tag"
case $port in
  '' | *[!0-9]*) usage_error "--port must be 1-65535" ;;
esac
((${#port} <= 5 && 10#$port >= 1 && 10#$port <= 65535)) || usage_error "--port must be 1-65535"
port=$((10#$port))
case $retries in
  '' | *[!0-9]*) usage_error "--retries must be a positive integer" ;;
esac
[[ $retries == *[1-9]* ]] || usage_error "--retries must be a positive integer"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || usage_error "--retries has more than 18 digits: $retries"
retries=$((10#$retries))
positive_decimal "$interval" || usage_error "--interval must be a positive number"
positive_decimal "$timeout_s" || usage_error "--timeout must be a positive number"

docker_do() {
  "$docker_bin" "$@" 1>&2
}

previous=""
if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi

if [[ $previous == "$version" ]]; then
  note ERROR "refusing: $version is what serves now ($state_file); build it under a new tag"
  exit 1
fi

new_container=$name-$version
old_container=${previous:+$name-$previous}
phase=building

undo() {
  local status=$?
  trap - EXIT
  if [[ $phase != swapping ]]; then
    exit "$status"
  fi
  note ERROR "rollback: $new_container did not become healthy"
  docker_do rm --force "$new_container" || note ERROR "rollback: docker rm --force $new_container failed"
  if [[ -n $old_container ]]; then
    docker_do start "$old_container" || note ERROR "rollback: docker start $old_container failed"
  fi
  note ERROR "rollback finished; $state_file unchanged"
  exit 1
}
trap undo EXIT

note INFO "build $image:$version from $context"
if ! docker_do build --tag "$image:$version" "${build_opts[@]}" "$context"; then
  note ERROR "build failed"
  exit 1
fi

phase=swapping
if [[ -n $old_container ]]; then
  note INFO "stop $old_container"
  docker_do stop "$old_container"
fi
note INFO "run $new_container"
docker_do run --detach --name "$new_container" --publish "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version"

passed=no
tries=0
until [[ $passed == yes ]] || ((tries >= retries)); do
  if ((tries > 0)); then
    sleep "$interval"
  fi
  tries=$((tries + 1))
  status=$(curl -s -o /dev/null -w '%{http_code}' -m "$timeout_s" --connect-timeout "$timeout_s" \
    "http://127.0.0.1:$port/health") || status=000
  note INFO "health check $tries of $retries: HTTP $status"
  [[ $status != 200 ]] || passed=yes
done
[[ $passed == yes ]] || exit 1

phase=promoted
if [[ -n $old_container ]]; then
  docker_do rm --force "$old_container" || note WARN "could not remove the old container $old_container"
fi
tmp_state=$(mktemp "$state_file.XXXXXX")
echo "$version" > "$tmp_state"
mv "$tmp_state" "$state_file"
note INFO "promoted $version"
