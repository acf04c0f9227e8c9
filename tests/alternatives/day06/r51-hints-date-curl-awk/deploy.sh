#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
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
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

# digits without leading zeros, or nothing when not a plain number of at most 18 digits
decimal_digits() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  local stripped=$1
  while [[ $stripped == 0* ]]; do stripped=${stripped#0}; done
  [[ -n $stripped ]] && ((${#stripped} <= 18)) || return 1
  printf '%s' "$stripped"
}

IMAGE=ml-model
NAME=ml-model
PORT=8000
CONTEXT=.
STATE_FILE=.deployed-version
RETRIES=10
INTERVAL=1
TIMEOUT=5
DOCKER_BIN=${DOCKER:-docker}
VERSION=
PREVIOUS=
have_version=0
BUILD_ARGS=()
LABELS=()

need_value() {
  (($2 >= 2)) || die_usage "$1 needs a value"
}

while (($# > 0)); do
  case $1 in
    --image) need_value "$1" $#; IMAGE=$2; shift 2 ;;
    --name) need_value "$1" $#; NAME=$2; shift 2 ;;
    --port) need_value "$1" $#; PORT=$2; shift 2 ;;
    --context) need_value "$1" $#; CONTEXT=$2; shift 2 ;;
    --build-arg) need_value "$1" $#; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
    --label) need_value "$1" $#; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need_value "$1" $#; STATE_FILE=$2; shift 2 ;;
    --retries) need_value "$1" $#; RETRIES=$2; shift 2 ;;
    --interval) need_value "$1" $#; INTERVAL=$2; shift 2 ;;
    --timeout) need_value "$1" $#; TIMEOUT=$2; shift 2 ;;
    --docker) need_value "$1" $#; DOCKER_BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *)
      ((have_version == 0)) || die_usage "more than one VERSION given"
      VERSION=$1; have_version=1; shift ;;
  esac
done

((have_version)) || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "VERSION is not a valid image tag"
port_digits=$(decimal_digits "$PORT") || die_usage "--port must be a number from 1 to 65535"
((port_digits >= 1 && port_digits <= 65535)) || die_usage "--port must be a number from 1 to 65535"
PORT=$port_digits
RETRIES=$(decimal_digits "$RETRIES") || die_usage "--retries must be a positive integer"
is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
[[ -n $IMAGE ]] || die_usage "--image must not be empty"
[[ -n $NAME ]] || die_usage "--name must not be empty"
[[ -n $DOCKER_BIN ]] || DOCKER_BIN=docker

dock() {
  timeout 600 "$DOCKER_BIN" "$@" >&2
}

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving; refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "could not remove container $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart container $NAME-$PREVIOUS"
  fi
  exit 1
}

healthy() {
  local attempt code url="http://127.0.0.1:$PORT/health"
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    code=$(curl -q --silent --noproxy '*' --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "$url") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $attempt/$RETRIES passed"
      return 0
    fi
    log WARN "health check $attempt/$RETRIES failed status=${code:-000}"
    if ((attempt < RETRIES)); then
      sleep "$INTERVAL"
    fi
  done
  return 1
}

log INFO "deploying $IMAGE:$VERSION as $NAME-$VERSION (previous: ${PREVIOUS:-none})"
log INFO "building $IMAGE:$VERSION from $CONTEXT"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS; carrying on"
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container $NAME-$VERSION did not start"; roll_back; }

if ! healthy; then
  log ERROR "$NAME-$VERSION never became healthy"
  roll_back
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" >"$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "deployed $IMAGE:$VERSION"
exit 0
