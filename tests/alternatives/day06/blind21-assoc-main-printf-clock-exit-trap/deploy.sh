#!/usr/bin/env bash
# deploy.sh: build, swap, check, promote; an EXIT trap rolls back whatever was not promoted.
set -o errexit -o nounset -o pipefail
export TZ=UTC

USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout=5 docker_cmd=${DOCKER:-docker}
build_opts=() run_opts=() positional=()
previous='' phase=init

note() { printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*"; }
usage_error() { { echo "deploy.sh: $*"; echo "$USAGE"; } >&2; exit 2; }
number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && ! $1 =~ ^[0.]+$ ]]; }
integer() { [[ $1 =~ ^[0-9]+$ && ! $1 =~ ^0+$ ]]; }
engine() { timeout 600 "$docker_cmd" "$@" 1>&2; }

while (($#)); do
  if [[ $1 == -h || $1 == --help ]]; then echo "$USAGE"; exit 0; fi
  case $1 in
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || usage_error "missing value for $1"
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
        --timeout) timeout=$value ;;
        --docker) docker_cmd=$value ;;
      esac
      shift 2
      ;;
    -?*) usage_error "unknown option ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || usage_error "give exactly one VERSION"
version=${positional[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "bad VERSION $version"
if ! integer "$port" || ((${#port} > 5)) || ((10#$port > 65535)); then usage_error "bad --port $port"; fi
integer "$retries" || usage_error "bad --retries $retries"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || usage_error "--retries has more than 18 digits: $retries"
number "$interval" || usage_error "bad --interval $interval"
number "$timeout" || usage_error "bad --timeout $timeout"
port=$((10#$port))
retries=$((10#$retries))

if [[ -f $state_file ]]; then
  previous=$(tr -d '[:space:]' <"$state_file")
fi

if [[ $previous == "$version" ]]; then
  note "ERROR $version already serves (see $state_file): refusing to redeploy it"
  exit 1
fi

# shellcheck disable=SC2329  # called by the EXIT trap
finish() {
  local status=$?
  case $phase in
    started | running)
      note "ERROR rollback of $version starting"
      engine rm -f "$name-$version" || note "ERROR rollback: docker rm -f $name-$version failed"
      if [[ -n $previous ]]; then
        if engine start "$name-$previous"; then
          note "INFO rollback: $name-$previous started again"
        else
          note "ERROR rollback: docker start $name-$previous failed, nothing serves"
        fi
      fi
      note "ERROR rollback complete, deploy of $version failed"
      exit 1
      ;;
  esac
  exit "$status"
}
trap finish EXIT

probe_once() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout" "http://127.0.0.1:$port/health") || code=000
  note "INFO health probe answered $code"
  [[ $code == 200 ]]
}

wait_healthy() {
  local attempt=1
  until probe_once; do
    ((attempt < retries)) || return 1
    attempt=$((attempt + 1))
    sleep "$interval"
  done
}

note "INFO build $image:$version from $context"
if ! engine build --tag "$image:$version" "${build_opts[@]}" "$context"; then
  note "ERROR build failed"
  exit 1
fi

if [[ -n $previous ]]; then
  note "INFO stop $name-$previous"
  engine stop "$name-$previous" || note "WARN stop of $name-$previous failed"
fi

phase=started
note "INFO run $name-$version"
engine run -d --name "$name-$version" -p "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version" || exit 1
phase=running
wait_healthy || exit 1
phase=promoted

if [[ -n $previous ]]; then
  engine rm -f "$name-$previous" || note "WARN clean-up: docker rm -f $name-$previous failed"
fi
scratch=$(mktemp "$state_file.XXXXXX")
echo "$version" >"$scratch"
mv "$scratch" "$state_file"
note "INFO $version promoted"
exit 0
