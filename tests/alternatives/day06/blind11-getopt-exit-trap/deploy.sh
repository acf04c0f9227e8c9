#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back.
set -euo pipefail

usage() {
  cat <<'TEXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TEXT
}

stamp() {
  TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

say() {
  printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"
}

bad_usage() {
  printf 'deploy.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}

is_positive_number() {
  [[ -n $1 && $1 =~ ^[0-9]*(\.[0-9]*)?$ && $1 =~ [1-9] ]]
}

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_bin=${DOCKER:-docker}
extra_build=() extra_run=()

parsed=$(getopt --name deploy.sh --options h \
  --longoptions image:,name:,port:,context:,build-arg:,label:,state-file:,retries:,interval:,timeout:,docker:,help \
  -- "$@" 2>/dev/null) || bad_usage "bad arguments"
eval set -- "$parsed"
while true; do
  case $1 in
    --image) image=$2 ;;
    --name) name=$2 ;;
    --port) port=$2 ;;
    --context) context=$2 ;;
    --build-arg) extra_build+=("--build-arg=$2") ;;
    --label) extra_run+=("--label=$2") ;;
    --state-file) state_file=$2 ;;
    --retries) retries=$2 ;;
    --interval) interval=$2 ;;
    --timeout) timeout_s=$2 ;;
    --docker) docker_bin=$2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
  esac
  shift 2
done
(($# == 1)) || bad_usage "exactly one VERSION expected, got $#"
version=$1

tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || bad_usage "VERSION is not a valid image tag"
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then bad_usage "--port wants 1-65535"; fi
port=$((10#$port))
[[ $retries =~ ^[0-9]+$ && $retries =~ [1-9] ]] || bad_usage "--retries wants a positive integer"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--retries has more than 18 digits: $retries"
retries=$((10#$retries))
is_positive_number "$interval" || bad_usage "--interval wants a positive number"
is_positive_number "$timeout_s" || bad_usage "--timeout wants a positive number"

new="$name-$version"
previous=""
if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi
[[ $version != "$previous" ]] || { say ERROR "$version is already serving, nothing to deploy"; exit 1; }
old="${previous:+$name-$previous}"

docker_cmd() {
  # Build-arg values may be tokens: the log shows their keys only.
  local arg key shown=()
  for arg in "$@"; do
    if [[ $arg == --build-arg=*=* ]]; then
      key=${arg#--build-arg=}
      arg="--build-arg=${key%%=*}=***"
    fi
    shown+=("$arg")
  done
  say INFO "docker ${shown[*]}"
  timeout 600 "$docker_bin" "$@" 1>&2
}

# Set once the new container may exist; the EXIT trap undoes it unless promoted.
phase=idle
on_exit() {
  local rc=$?
  if [[ $phase == swapping ]]; then
    say ERROR "rollback of $version: removing $new"
    docker_cmd rm -f "$new" || say ERROR "rollback: could not remove $new"
    if [[ -n $old ]]; then
      say ERROR "rollback: starting $old again"
      docker_cmd start "$old" || say ERROR "rollback: could not start $old"
    fi
    say ERROR "rolled back, $version is not serving"
    rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT

answers_200() {
  local code
  code=$(curl -s -o /dev/null -w '%{response_code}' --max-time "$timeout_s" "http://127.0.0.1:$port/health") || code=000
  [[ $code == 200 ]]
}

docker_cmd build --tag "$image:$version" "${extra_build[@]}" "$context" || { say ERROR "build of $image:$version failed"; exit 1; }

phase=swapping
if [[ -n $old ]]; then
  docker_cmd stop "$old" || exit 1
fi
docker_cmd run --detach --name "$new" --publish "127.0.0.1:$port:8000" "${extra_run[@]}" "$image:$version" || exit 1

n=0
until answers_200; do
  n=$((n + 1))
  say WARN "health check $n of $retries failed"
  ((n < retries)) || exit 1
  sleep "$interval"
done
say INFO "health check passed: $new is healthy"

phase=promoted
if [[ -n $old ]]; then
  docker_cmd rm -f "$old" || say WARN "could not remove $old"
fi
tmp=$(mktemp "$(dirname -- "$state_file")/.deployed.XXXXXX")
printf '%s\n' "$version" > "$tmp"
mv -f -- "$tmp" "$state_file"
say INFO "promoted $version"
