#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
shopt -s extglob

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout=5 docker_bin=${DOCKER:-docker}
build_opts=() run_opts=() positionals=()

show_usage() {
  printf '%s\n' \
    'usage: deploy.sh [options] VERSION' \
    '  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)' \
    '  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS' \
    '  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'
}

usage_error() {
  printf 'deploy.sh: %s\n' "$*" >&2
  show_usage >&2
  exit 2
}

say() {
  local now
  TZ=UTC0 printf -v now '%(%Y-%m-%dT%H:%M:%S)TZ' -1
  printf '%s [%s] %s\n' "$now" "$1" "${*:2}"
}

is_seconds() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

while (($#)); do
  flag=$1
  case $flag in
    -h | --help) show_usage; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || usage_error "$flag wants a value"
      value=$2
      shift 2
      case $flag in
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
        --docker) docker_bin=$value ;;
      esac ;;
    -?*) usage_error "unknown option ${flag%%=*}" ;;
    *) positionals+=("$flag"); shift ;;
  esac
done

((${#positionals[@]} == 1)) || usage_error "want exactly one VERSION, got ${#positionals[@]}"
version=${positionals[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "bad VERSION '$version'"
case $port in
  *([0])[1-9]*([0-9])) ((${#port} <= 5)) || usage_error "port out of range"; port=$((10#$port)); ((port <= 65535)) || usage_error "port out of range" ;;
  *) usage_error "bad --port '$port'" ;;
esac
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || usage_error "--retries has more than 18 digits: $retries"
case $retries in
  *([0])[1-9]*([0-9])) retries=$((10#$retries)) ;;
  *) usage_error "bad --retries '$retries'" ;;
esac
is_seconds "$interval" || usage_error "bad --interval '$interval'"
is_seconds "$timeout" || usage_error "bad --timeout '$timeout'"

new="$name-$version"
previous=""
if [[ -f $state_file ]]; then
  read -r previous <"$state_file" || true
fi
[[ $version != "$previous" ]] || { say ERROR "$version is already serving, nothing to deploy"; exit 1; }
old=${previous:+$name-$previous}

docker() { command "$docker_bin" "$@" 1>&2; }

# The EXIT trap is the rollback: it acts whenever the script ends after the swap began
# and before the new version was recorded.
phase=build
finish() {
  local code=$?
  if [[ $phase == swapping ]]; then
    say ERROR "rollback: $new is not healthy, back to ${previous:-nothing}"
    docker rm -f "$new" || say ERROR "rollback: docker rm -f $new failed"
    if [[ -n $old ]]; then
      docker start "$old" || say ERROR "rollback: docker start $old failed"
    fi
    say ERROR "rollback done"
    code=1
  fi
  exit "$code"
}
trap finish EXIT

say INFO "build $image:$version from $context"
docker build "--tag=$image:$version" "${build_opts[@]}" "$context" || { say ERROR "build failed"; exit 1; }

phase=swapping
if [[ -n $old ]]; then
  say INFO "stop $old"
  docker stop "$old" || say WARN "stop $old failed"
fi
say INFO "run $new on 127.0.0.1:$port"
docker run -d "--name=$new" "--publish=127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version" || exit 1

n=0
until (( n >= retries )); do
  n=$((n + 1))
  code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "$timeout" -m "$timeout" "http://127.0.0.1:$port/health" || :)
  if [[ $code == 200 ]]; then
    break
  fi
  say WARN "health check $n of $retries: got ${code:-000}"
  ((n >= retries)) && exit 1
  sleep "$interval"
done
say INFO "health check $n of $retries passed"

if [[ -n $old ]]; then
  docker rm -f "$old" || say WARN "could not remove $old"
fi
dir=$(dirname -- "$state_file")
tmp=$(mktemp -p "$dir" .deploy-state.XXXXXX)
echo "$version" >"$tmp"
mv -- "$tmp" "$state_file"
phase=promoted
say INFO "$version promoted"
