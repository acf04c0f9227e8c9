#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
  -h, --help    print this usage on stdout, exit 0
USAGE
}

die_usage() {
  echo "deploy.sh: $1" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$level] $*"
}

is_positive_decimal() {
  [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

is_positive_count() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  [[ $1 =~ [1-9] ]] || return 1
  local digits=${1#"${1%%[!0]*}"}
  ((${#digits} <= 18))
}

D_IMAGE=ml-model
D_NAME=ml-model
D_PORT=8000
D_CONTEXT=.
D_STATE_FILE=.deployed-version
D_RETRIES=10
D_INTERVAL=1
D_TIMEOUT=5
D_DOCKER=${DOCKER:-docker}
D_VERSION=
have_version=0
BUILD_ARGS=()
LABELS=()

need_value() {
  (($1 >= 2)) || die_usage "$2 needs a value"
}

while (($# > 0)); do
  case $1 in
    --image) need_value $# "$1"; D_IMAGE=$2; shift 2 ;;
    --name) need_value $# "$1"; D_NAME=$2; shift 2 ;;
    --port) need_value $# "$1"; D_PORT=$2; shift 2 ;;
    --context) need_value $# "$1"; D_CONTEXT=$2; shift 2 ;;
    --build-arg) need_value $# "$1"; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
    --label) need_value $# "$1"; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need_value $# "$1"; D_STATE_FILE=$2; shift 2 ;;
    --retries) need_value $# "$1"; D_RETRIES=$2; shift 2 ;;
    --interval) need_value $# "$1"; D_INTERVAL=$2; shift 2 ;;
    --timeout) need_value $# "$1"; D_TIMEOUT=$2; shift 2 ;;
    --docker) need_value $# "$1"; D_DOCKER=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *)
      ((have_version == 0)) || die_usage "exactly one VERSION expected"
      D_VERSION=$1; have_version=1; shift ;;
  esac
done

((have_version)) || die_usage "VERSION is missing"
valid_tag() {
  local LC_ALL=C
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
}
valid_port() {
  [[ $1 =~ ^[0-9]{1,5}$ ]] || return 1
  ((10#$1 >= 1 && 10#$1 <= 65535))
}
valid_tag "$D_VERSION" || die_usage "VERSION is not a valid image tag"
valid_port "$D_PORT" || die_usage "--port must be 1-65535"
is_positive_count "$D_RETRIES" || die_usage "--retries must be a positive integer"
is_positive_decimal "$D_INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$D_TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
D_PORT=$((10#$D_PORT))
D_RETRIES=$((10#$D_RETRIES))

dock() {
  "$D_DOCKER" "$@" >&2
}

PREVIOUS=
if [[ -s $D_STATE_FILE ]]; then
  PREVIOUS=$(<"$D_STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$D_VERSION" ]]; then
  log ERROR "version $D_VERSION is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

build_arg_keys=()
for ((i = 1; i < ${#BUILD_ARGS[@]}; i += 2)); do
  build_arg_keys+=("${BUILD_ARGS[i]%%=*}")
done

log INFO "building $D_IMAGE:$D_VERSION (build args: ${build_arg_keys[*]:-none})"
if ! dock build -t "$D_IMAGE:$D_VERSION" "${BUILD_ARGS[@]}" "$D_CONTEXT"; then
  log ERROR "build of $D_IMAGE:$D_VERSION failed"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$D_VERSION"
  dock rm -f "$D_NAME-$D_VERSION" || log ERROR "could not remove $D_NAME-$D_VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$D_NAME-$PREVIOUS" || log ERROR "could not restart $D_NAME-$PREVIOUS: nothing serves"
  fi
  log ERROR "rollback done: deploy of $D_VERSION failed"
  exit 1
}

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $D_NAME-$PREVIOUS"
  if ! dock stop "$D_NAME-$PREVIOUS"; then
    log ERROR "could not stop $D_NAME-$PREVIOUS"
    roll_back
  fi
fi

log INFO "starting $D_NAME-$D_VERSION on 127.0.0.1:$D_PORT"
dock run --detach --name "$D_NAME-$D_VERSION" --publish "127.0.0.1:$D_PORT:8000" "${LABELS[@]}" \
  "$D_IMAGE:$D_VERSION" || { log ERROR "container $D_NAME-$D_VERSION did not start"; roll_back; }

healthy() {
  local n=0 code
  while ((n < D_RETRIES)); do
    n=$((n + 1))
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$D_TIMEOUT" --max-time "$D_TIMEOUT" "http://127.0.0.1:$D_PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $n/$D_RETRIES ok"
      return 0
    fi
    log WARN "health check $n/$D_RETRIES failed (status ${code:-000})"
    if ((n < D_RETRIES)); then
      sleep "$D_INTERVAL"
    fi
  done
  return 1
}

healthy || roll_back

if [[ -n $PREVIOUS ]]; then
  dock rm -f "$D_NAME-$PREVIOUS" || log WARN "could not remove $D_NAME-$PREVIOUS"
fi
state_dir=$(dirname -- "$D_STATE_FILE")
tmp=$(mktemp "$state_dir/.deployed.XXXXXX")
printf '%s\n' "$D_VERSION" >"$tmp"
mv -f -- "$tmp" "$D_STATE_FILE"
log INFO "deployed $D_IMAGE:$D_VERSION as $D_NAME-$D_VERSION"
