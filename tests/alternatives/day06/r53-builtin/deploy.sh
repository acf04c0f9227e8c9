#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
set -euo pipefail
export TZ=UTC

readonly TAG_FIRST='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'
readonly TAG_REST="$TAG_FIRST.-"

print_usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
  -h, --help  print this help
USAGE
}

usage_error() { printf 'deploy.sh: %s\n' "$*" >&2; print_usage >&2; exit 2; }

say() {
  local level=$1; shift
  printf '%(%Y-%m-%dT%H:%M:%SZ)T %-5s %s\n' -1 "$level" "$*"
}

valid_tag() {
  local tag=$1 i
  ((${#tag} >= 1 && ${#tag} <= 128)) || return 1
  [[ $TAG_FIRST == *"${tag:0:1}"* ]] || return 1
  for ((i = 1; i < ${#tag}; i++)); do
    [[ $TAG_REST == *"${tag:i:1}"* ]] || return 1
  done
}

seconds_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && $1 =~ [1-9] ]]; }

docker_do() { timeout 600 "$docker_bin" "$@" 1>&2; }

check_once() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -m "$timeout_s" --connect-timeout "$timeout_s" \
    "http://127.0.0.1:$port/health") || true
  [[ $code == 200 ]]
}

wait_healthy() {
  local n=0
  while :; do
    n=$((n + 1))
    if check_once; then say INFO "health check $n passed"; return 0; fi
    say WARN "health check $n of $retries failed"
    [[ $n -lt $retries ]] || return 1
    sleep "$interval"
  done
}

undo() {
  say ERROR "rollback: $name-$version did not become healthy, removing it"
  docker_do rm -f "$name-$version" || say ERROR "rollback: removing $name-$version failed"
  if [[ -n $previous ]]; then
    say INFO "rollback: restarting $name-$previous"
    docker_do start "$name-$previous" || say ERROR "rollback: restarting $name-$previous failed"
  fi
  exit 1
}

main() {
  local image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
  local retries=10 interval=1 timeout_s=5 docker_bin=${DOCKER:-docker}
  local -a build_args=() labels=() words=()
  local opt val
  while (($#)); do
    opt=$1
    case $opt in
      -h|--help) print_usage; exit 0 ;;
      --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
      --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker)
        (($# >= 2)) || usage_error "$opt needs a value"
        val=$2; shift 2 ;;
      -?*) usage_error "unknown option" ;;
      *) words+=("$opt"); shift; continue ;;
    esac
    case $opt in
      --image) image=$val ;;
      --name) name=$val ;;
      --port) port=$val ;;
      --context) context=$val ;;
      --build-arg) build_args+=(--build-arg "$val") ;;
      --label) labels+=(--label "$val") ;;
      --state-file) state_file=$val ;;
      --retries) retries=$val ;;
      --interval) interval=$val ;;
      --timeout) timeout_s=$val ;;
      --docker) docker_bin=$val ;;
      *) usage_error "unknown option" ;;
    esac
  done
  ((${#words[@]} == 1)) || usage_error "one VERSION expected, ${#words[@]} given"
  local version=${words[0]}
  valid_tag "$version" || usage_error "VERSION is not a valid image tag"
  [[ $port =~ ^0*([1-9][0-9]{0,4})$ ]] || usage_error "bad --port"
  port=$((10#${BASH_REMATCH[1]}))
  ((port <= 65535)) || usage_error "bad --port"
  [[ $retries =~ ^0*([1-9][0-9]{0,17})$ ]] || usage_error "bad --retries"
  retries=${BASH_REMATCH[1]}
  seconds_ok "$interval" || usage_error "bad --interval"
  seconds_ok "$timeout_s" || usage_error "bad --timeout"
  [[ -n $docker_bin ]] || docker_bin=docker

  local previous=""
  if [[ -f $state_file ]]; then
    read -r previous < "$state_file" || true
  fi

  if [[ -n $previous && $version == "$previous" ]]; then
    say ERROR "$version is already serving; refusing to rebuild the same tag"
    exit 1
  fi

  say INFO "build $image:$version"
  docker_do build -t "$image:$version" "${build_args[@]}" "$context" || { say ERROR "build failed"; exit 1; }

  if [[ -n $previous ]]; then
    say INFO "stop $name-$previous"
    docker_do stop "$name-$previous" || say ERROR "stopping $name-$previous failed; carrying on"
  fi

  say INFO "run $name-$version on 127.0.0.1:$port"
  if ! docker_do run --detach --name "$name-$version" --publish "127.0.0.1:$port:8000" "${labels[@]}" \
      "$image:$version"; then
    say ERROR "$name-$version did not start"
    undo
  fi
  wait_healthy || undo

  if [[ -n $previous ]]; then
    say INFO "remove $name-$previous"
    docker_do rm -f "$name-$previous" || say WARN "removing $name-$previous failed"
  fi
  local dir tmp
  dir=$(dirname -- "$state_file")
  tmp=$(mktemp "$dir/.deployed.XXXXXXXX")
  echo "$version" > "$tmp"
  mv -f -- "$tmp" "$state_file"
  say INFO "promoted $version"
}

main "$@"
