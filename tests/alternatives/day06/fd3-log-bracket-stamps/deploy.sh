#!/usr/bin/env bash
# deploy.sh — build, swap, check, promote; roll back from an EXIT trap when the new version fails.
# Exit codes: 0 promoted, 1 failed (previous version serves again), 2 usage error.
set -o errexit -o nounset -o pipefail

# All of the script's own stdout goes to fd 3 (the log); anything else (docker) goes to stderr.
exec 3>&1 1>&2

USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

note() {
  local when
  when=$(date -u '+%Y-%m-%d %H:%M:%S')
  printf '[%s] %-5s %s\n' "$when" "$1" "$2" >&3
}

usage_exit() {
  printf 'deploy.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout=5 docker_bin=""
build_opts=() run_opts=() args=()

while (($#)); do
  case $1 in
    -h | --help)
      printf '%s\n' "$USAGE" >&3
      exit 0
      ;;
    --*=*)
      flag=${1%%=*}
      value=${1#*=}
      shift
      set -- "$flag" "$value" "$@"
      continue
      ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      [[ $# -ge 2 ]] || usage_exit "option $1 wants a value"
      case $1 in
        --image) image=$2 ;;
        --name) name=$2 ;;
        --port) port=$2 ;;
        --context) context=$2 ;;
        --build-arg) build_opts+=("--build-arg=$2") ;;
        --label) run_opts+=(-l "$2") ;;
        --state-file) state_file=$2 ;;
        --retries) retries=$2 ;;
        --interval) interval=$2 ;;
        --timeout) timeout=$2 ;;
        --docker) docker_bin=$2 ;;
      esac
      shift 2
      ;;
    -?*) usage_exit "unknown option ${1%%=*}" ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
docker_bin=${docker_bin:-${DOCKER:-docker}}

is_seconds() { LC_ALL=C awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+|[0-9]*\.[0-9]+)$/ && x + 0 > 0) }'; }

[[ ${#args[@]} -eq 1 ]] || usage_exit "want exactly one VERSION"
version=${args[0]}
[[ ${#version} -le 128 && $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || usage_exit "bad VERSION '$version'"
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then usage_exit "bad --port '$port'"; fi
[[ $retries =~ ^[1-9][0-9]*$ ]] || usage_exit "bad --retries '$retries'"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || usage_exit "--retries has more than 18 digits: $retries"
is_seconds "$interval" || usage_exit "bad --interval '$interval'"
is_seconds "$timeout" || usage_exit "bad --timeout '$timeout'"

new="$name-$version"
previous=""
if [[ -f $state_file ]]; then
  read -r previous <"$state_file" || true
fi
[[ $version != "$previous" ]] || { note ERROR "$version is already serving, nothing to deploy"; exit 1; }
old=${previous:+$name-$previous}

stage=init
finish() {
  local rc=$?
  if [[ $stage == started ]]; then
    note ERROR "rollback: $new did not become healthy"
    "$docker_bin" rm -f "$new" || note ERROR "could not remove $new"
    if [[ -n $old ]]; then
      "$docker_bin" start "$old" || note ERROR "could not start $old again"
      note INFO "rollback: $old is serving again"
    fi
    rc=1
  fi
  exit "$rc"
}
trap finish EXIT

note INFO "build $image:$version (now serving: ${previous:-nothing})"
if ! "$docker_bin" build --tag "$image:$version" "${build_opts[@]}" -- "$context"; then
  note ERROR "build failed, nothing was touched"
  exit 1
fi

if [[ -n $old ]]; then
  note INFO "stop $old"
  "$docker_bin" stop "$old" || note WARN "could not stop $old"
fi

stage=started
note INFO "run $new on 127.0.0.1:$port"
"$docker_bin" run -d --name="$new" -p "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version"

tries=0
until curl -fsS -o /dev/null -m "$timeout" --max-redirs 0 -w '%{http_code}' "http://127.0.0.1:$port/health" | grep -qx 200; do
  tries=$((tries + 1))
  note WARN "health check $tries of $retries failed"
  if ((tries >= retries)); then
    exit 1
  fi
  sleep "$interval"
done
note INFO "$new is healthy"
stage=promoting

if [[ -n $old ]]; then
  note INFO "remove $old"
  "$docker_bin" rm -f "$old" || note WARN "could not remove $old"
fi
tmp=$(mktemp "$state_file.XXXXXX")
printf '%s\n' "$version" >"$tmp"
mv "$tmp" "$state_file"
stage=promoted
note INFO "deployed $image:$version"
