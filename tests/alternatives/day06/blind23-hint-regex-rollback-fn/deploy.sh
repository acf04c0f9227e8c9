#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back on failure.
set -euo pipefail

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
  [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] && [[ $1 =~ [1-9] ]]
}

IMAGE=ml-model
NAME=ml-model
PORT=8000
CONTEXT=.
STATE_FILE=.deployed-version
RETRIES=10
INTERVAL=1
TIMEOUT=5
DOCKER=${DOCKER:-docker}
BUILD_ARGS=()
LABELS=()
POSITIONAL=()

while (($# > 0)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker)
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
        --docker) DOCKER=$2 ;;
      esac
      shift 2 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *) POSITIONAL+=("$1"); shift ;;
  esac
done

((${#POSITIONAL[@]} == 1)) || die_usage "exactly one VERSION is needed"
VERSION=${POSITIONAL[0]}
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
  die_usage "bad --port: $PORT"
fi
PORT=$((10#$PORT))
[[ $RETRIES =~ ^[0-9]+$ ]] && [[ $RETRIES =~ [1-9] ]] || die_usage "bad --retries: $RETRIES"
[[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $RETRIES"
RETRIES=$((10#$RETRIES))
is_positive_decimal "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"

dock() {
  timeout 600 "$DOCKER" "$@" >&2
}

PREVIOUS=""
if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving; refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm -f "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not start $NAME-$PREVIOUS again"
  fi
  log ERROR "rollback done, deploy of $VERSION failed"
  exit 1
}

healthy() {
  local attempt code
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
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

log INFO "building $IMAGE:$VERSION"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS"
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || roll_back

healthy || roll_back

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm -f "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$(dirname -- "$STATE_FILE")/.deployed.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv -f -- "$tmp" "$STATE_FILE"
log INFO "promoted $VERSION"
