#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back when it never becomes healthy.
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
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]
}

# digits without leading zeros, at most 18 of them, not zero
is_positive_int() {
  local digits
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  digits=$(printf '%s' "$1" | sed 's/^0*//')
  [[ -n $digits ]] && ((${#digits} <= 18))
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
BUILD_ARGS=()
LABELS=()
VERSION=
have_version=0
PREVIOUS=

while (($# > 0)); do
  case $1 in
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --image) IMAGE=$2 ;;
        --name) NAME=$2 ;;
        --port) PORT=$2 ;;
        --context) CONTEXT=$2 ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --label) LABELS+=(--label "$2") ;;
        --state-file) STATE_FILE=$2 ;;
        --retries) RETRIES=$2 ;;
        --interval) INTERVAL=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --docker) DOCKER_BIN=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *)
      ((have_version == 0)) || die_usage "exactly one VERSION, got another (not shown: it may hold a token)"
      VERSION=$1
      have_version=1
      shift
      ;;
  esac
done

((have_version)) || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
  die_usage "port must be 1-65535: $PORT"
fi
PORT=$((10#$PORT))
is_positive_int "$RETRIES" || die_usage "--retries must be a positive integer: $RETRIES"
RETRIES=$((10#$RETRIES))
is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number: $TIMEOUT"

dock() {
  timeout 600 "$DOCKER_BIN" "$@" >&2
}

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    if dock start "$NAME-$PREVIOUS"; then
      log INFO "rollback done: $NAME-$PREVIOUS serves again"
    else
      log ERROR "could not start $NAME-$PREVIOUS again: nothing serves"
    fi
  fi
  exit 1
}

healthy() {
  local i code url="http://127.0.0.1:$PORT/health"
  for ((i = 1; i <= RETRIES; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "$url") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$RETRIES passed"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed (status ${code:-000})"
    if ((i < RETRIES)); then
      sleep "$INTERVAL"
    fi
  done
  return 1
}

log INFO "building $IMAGE:$VERSION from $CONTEXT"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  if ! dock stop "$NAME-$PREVIOUS"; then
    log ERROR "could not stop $NAME-$PREVIOUS: the deploy stops here"
    exit 1
  fi
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
if ! dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION"; then
  log ERROR "$NAME-$VERSION did not start"
  roll_back
fi

if ! healthy; then
  log ERROR "$NAME-$VERSION never became healthy"
  roll_back
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi
tmp="$STATE_FILE.tmp.$$"
printf '%s\n' "$VERSION" >"$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "deployed $IMAGE:$VERSION as $NAME-$VERSION"
