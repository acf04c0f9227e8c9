#!/usr/bin/env bash
# deploy.sh: build, swap, check, promote; on failure put the previous container back.
set -Eeuo pipefail

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_bin=${DOCKER:-docker}
declare -a build_opts=() run_opts=() positional=()

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
USAGE
}
fail_usage() { echo "error: $*" >&2; usage >&2; exit 2; }
log() { echo "$(date -u '+%Y-%m-%d %H:%M:%S') $*"; }

while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || fail_usage "$1 needs a value"
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
        --timeout) timeout_s=$2 ;;
        --docker) docker_bin=$2 ;;
      esac
      shift 2 ;;
    --) shift; positional+=("$@"); break ;;
    -?*) fail_usage "unknown option ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || fail_usage "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail_usage "bad VERSION '$version'"
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then fail_usage "bad --port '$port'"; fi
[[ $retries =~ ^[1-9][0-9]*$ ]] || fail_usage "bad --retries '$retries'"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || fail_usage "--retries has more than 18 digits: $retries"
for pair in "interval:$interval" "timeout:$timeout_s"; do
  value=${pair#*:}
  if ! [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || [[ $value =~ ^0+(\.0+)?$ ]]; then
    fail_usage "bad --${pair%%:*} '$value'"
  fi
done

docker_cmd() { timeout 300 "$docker_bin" "$@" 1>&2; }

previous=""
if [[ -f $state_file ]]; then
  previous=$(tr -d '[:space:]' <"$state_file")
fi
[[ $version != "$previous" ]] || { log "ERROR $version is already serving, nothing to deploy"; exit 1; }
new_container="$name-$version"

restore() {
  log "ERROR rollback of $version: $1"
  docker_cmd rm --force "$new_container" || log "ERROR could not remove $new_container"
  if [[ -n $previous ]]; then
    docker_cmd start "$name-$previous" || log "ERROR could not start $name-$previous"
  fi
  exit 1
}

probe_health() {
  local attempt=0 status
  while ((attempt < retries)); do
    attempt=$((attempt + 1))
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout_s" "http://127.0.0.1:$port/health" || true)
    log "INFO health $attempt/$retries -> $status"
    if [[ $status == 200 ]]; then
      return 0
    fi
    if ((attempt < retries)); then
      sleep "$interval"
    fi
  done
  return 1
}

log "INFO build $image:$version"
if ! docker_cmd build --tag "$image:$version" "${build_opts[@]}" -- "$context"; then
  log "ERROR build of $image:$version failed; nothing changed"
  exit 1
fi
if [[ -n $previous ]]; then
  log "INFO stop $name-$previous"
  docker_cmd stop "$name-$previous" || restore "stop failed"
fi
log "INFO run $new_container"
docker_cmd run -d --name "$new_container" -p "127.0.0.1:$port:8000" "${run_opts[@]}" "$image:$version" \
  || restore "container did not start"
probe_health || restore "never healthy"
if [[ -n $previous ]]; then
  docker_cmd rm --force "$name-$previous" || log "WARN could not remove $name-$previous"
fi
tmp=$(mktemp "$state_file.XXXXXX")
printf '%s\n' "$version" >"$tmp"
mv -f "$tmp" "$state_file"
log "INFO $version is serving"
