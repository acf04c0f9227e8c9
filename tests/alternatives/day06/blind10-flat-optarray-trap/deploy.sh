#!/usr/bin/env bash
# deploy.sh: build, swap and health-check a model container; an EXIT trap does the rollback.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

export TZ=UTC
readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout=5 docker_bin=${DOCKER:-docker}
build_opts=() run_opts=() versions=()

say() { printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*"; }
usage_error() { printf '%s\n%s\n' "deploy.sh: $1" "$USAGE" >&2; exit 2; }
positive_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+$ && $1 =~ [1-9] && ! $1 =~ ^[0-9]+\.$ ]]; }

while (($#)); do
  case $1 in
    -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || usage_error "$1 needs a value"
      case $1 in
        --image) image=$2 ;;
        --name) name=$2 ;;
        --port) port=$2 ;;
        --context) context=$2 ;;
        --build-arg) build_opts+=("--build-arg=$2") ;;
        --label) run_opts+=("--label=$2") ;;
        --state-file) state_file=$2 ;;
        --retries) retries=$2 ;;
        --interval) interval=$2 ;;
        --timeout) timeout=$2 ;;
        --docker) docker_bin=$2 ;;
      esac
      shift 2
      ;;
    -?*) usage_error "unknown option ${1%%=*}" ;;
    *) versions+=("$1"); shift ;;
  esac
done

((${#versions[@]} == 1)) || usage_error "give exactly one VERSION"
version=${versions[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || usage_error "'$version' is not a valid image tag"
[[ $port =~ ^[0-9]{1,5}$ ]] || usage_error "bad --port '$port'"
port=$((10#$port))
((port >= 1 && port <= 65535)) || usage_error "--port out of range"
[[ $retries =~ ^[0-9]{1,9}$ ]] || usage_error "bad --retries '$retries'"
retries=$((10#$retries))
((retries >= 1)) || usage_error "--retries must be at least 1"
positive_number "$interval" || usage_error "bad --interval '$interval'"
positive_number "$timeout" || usage_error "bad --timeout '$timeout'"

docker() { timeout 600 "$docker_bin" "$@" 1>&2; }

previous=""
if [[ -f $state_file ]]; then
  read -r previous <"$state_file" || true
fi
[[ $version != "$previous" ]] || { say "ERROR $version is already serving, nothing to deploy"; exit 1; }
new="$name-$version"
old="${previous:+$name-$previous}"
phase=build

on_exit() {
  local rc=$?
  if ((rc != 0)) && [[ $phase == swap ]]; then
    say "ERROR rollback: removing $new"
    docker rm -f "$new" || say "ERROR rollback: docker rm -f $new failed, going on"
    if [[ -n $old ]]; then
      say "ERROR rollback: starting $old again"
      docker start "$old" || say "ERROR rollback: docker start $old failed"
    fi
    say "ERROR rollback done; $state_file still says ${previous:-nothing}"
  fi
}
trap on_exit EXIT

say "INFO build $image:$version from $context"
docker build -t "$image:$version" "${build_opts[@]}" "$context" || { say "ERROR build failed"; exit 1; }

phase=swap
if [[ -n $old ]]; then
  say "INFO stop $old"
  docker stop "$old" || say "WARN could not stop $old"
fi
say "INFO run $new on 127.0.0.1:$port"
docker run --detach --name "$new" --publish "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version" ||
  { say "ERROR $new did not start"; exit 1; }

tries=0
until [[ $(curl -s -o /dev/null -w '%{http_code}' -m "$timeout" "http://127.0.0.1:$port/health" || true) == 200 ]]; do
  tries=$((tries + 1))
  say "WARN health check $tries/$retries failed"
  ((tries < retries)) || { say "ERROR $new is not healthy after $retries checks"; exit 1; }
  sleep "$interval"
done
say "INFO $new is healthy"

phase=promote
if [[ -n $old ]]; then
  say "INFO remove $old"
  docker rm -f "$old" || say "WARN could not remove $old"
fi
printf '%s\n' "$version" >"$state_file.$$.tmp"
mv -f "$state_file.$$.tmp" "$state_file"
say "INFO promoted $version"
