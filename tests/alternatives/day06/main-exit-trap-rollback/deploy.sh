#!/usr/bin/env bash
# deploy.sh, style B: main(), a trap-driven rollback, getopt-free while loop, short docker flags.
set -o errexit -o nounset -o pipefail

usage() {
  cat <<'TXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TXT
}
fail_usage() { echo "deploy.sh: $*" >&2; usage >&2; exit 2; }
log() { local lvl=$1; shift; printf '[%s] %s %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$lvl" "$*"; }
positive() { awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && x + 0 > 0) }'; }

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_cmd=""
build_args=() labels=() versions=()

parse() {
  while (($#)); do
    if [[ $1 == -h || $1 == --help ]]; then usage; exit 0; fi
    case $1 in
      --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker)
        (($# > 1)) || fail_usage "$1 needs a value" ;;
    esac
    case $1 in
      --image) image=$2 ;;
      --name) name=$2 ;;
      --port) port=$2 ;;
      --context) context=$2 ;;
      --build-arg) build_args+=("--build-arg=$2") ;;
      --label) labels+=(-l "$2") ;;
      --state-file) state_file=$2 ;;
      --retries) retries=$2 ;;
      --interval) interval=$2 ;;
      --timeout) timeout_s=$2 ;;
      --docker) docker_cmd=$2 ;;
      --*|-?*) fail_usage "unknown option ${1%%=*}" ;;
      *) versions+=("$1"); shift; continue ;;
    esac
    shift 2
  done
  [[ ${#versions[@]} -eq 1 ]] || fail_usage "need exactly one VERSION, got ${#versions[@]}"
  version=${versions[0]}
  [[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail_usage "invalid VERSION"
  { [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && ((port <= 65535)); } || fail_usage "invalid --port"
  { [[ $retries =~ ^[0-9]+$ ]] && positive "$retries"; } || fail_usage "invalid --retries"
  [[ $retries =~ ^0*[0-9]{1,18}$ ]] || fail_usage "--retries has more than 18 digits: $retries"
  positive "$interval" || fail_usage "invalid --interval"
  positive "$timeout_s" || fail_usage "invalid --timeout"
  retries=$((10#$retries))
  docker_cmd=${docker_cmd:-${DOCKER:-docker}}
}

d() { timeout 600 "$docker_cmd" "$@" 1>&2; }

previous=""
phase=none
on_exit() {
  local rc=$?
  if [[ $phase == swapping ]]; then
    log ERROR "rollback of $version"
    d rm -f "$name-$version" || log ERROR "rm of $name-$version failed"
    if [[ -n $previous ]]; then d start "$name-$previous" || log ERROR "restart of $name-$previous failed"; fi
    exit 1
  fi
  exit "$rc"
}

wait_healthy() {
  local n=0 code
  while ((n < retries)); do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' -m "$timeout_s" "http://127.0.0.1:$port/health" || true)
    log INFO "health $n/$retries: $code"
    [[ $code != 200 ]] || return 0
    ((n >= retries)) || sleep "$interval"
  done
  return 1
}

main() {
  parse "$@"
  if [[ -f $state_file ]]; then
    read -r previous < "$state_file" || true
  fi
  [[ $version != "$previous" ]] || { log ERROR "$version is already serving, nothing to deploy"; exit 1; }
  trap on_exit EXIT
  log INFO "build $image:$version"
  if ! d build "${build_args[@]}" -t "$image:$version" "$context"; then
    log ERROR "build failed"; exit 1
  fi
  phase=swapping
  if [[ -n $previous ]]; then log INFO "stop $name-$previous"; d stop "$name-$previous"; fi
  log INFO "run $name-$version"
  d run -d --name "$name-$version" -p "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version"
  wait_healthy
  phase=promoting
  if [[ -n $previous ]]; then d rm -f "$name-$previous" || log WARN "could not remove $name-$previous"; fi
  local tmp
  tmp=$(mktemp "$state_file.XXXXXX")
  printf '%s\n' "$version" > "$tmp"
  mv -f "$tmp" "$state_file"
  phase=finished
  log INFO "deployed $version"
}

main "$@"
