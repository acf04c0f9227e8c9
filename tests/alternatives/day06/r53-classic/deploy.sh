#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
LC_ALL=C

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
USAGE
}

die_usage() { echo "deploy.sh: $1" >&2; usage >&2; exit 2; }

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$1] $2"; }

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]
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
POSITIONALS=()
PREVIOUS=""

need() { (($1 >= 2)) || die_usage "$2 needs a value"; }

while (($# > 0)); do
  case $1 in
    --image) need $# "$1"; IMAGE=$2; shift 2 ;;
    --name) need $# "$1"; NAME=$2; shift 2 ;;
    --port) need $# "$1"; PORT=$2; shift 2 ;;
    --context) need $# "$1"; CONTEXT=$2; shift 2 ;;
    --build-arg) need $# "$1"; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
    --label) need $# "$1"; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need $# "$1"; STATE_FILE=$2; shift 2 ;;
    --retries) need $# "$1"; RETRIES=$2; shift 2 ;;
    --interval) need $# "$1"; INTERVAL=$2; shift 2 ;;
    --timeout) need $# "$1"; TIMEOUT=$2; shift 2 ;;
    --docker) need $# "$1"; DOCKER_BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option" ;;
    *) POSITIONALS+=("$1"); shift ;;
  esac
done

((${#POSITIONALS[@]} == 1)) || die_usage "expected exactly one VERSION, got ${#POSITIONALS[@]}"
VERSION=${POSITIONALS[0]}
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "VERSION is not a valid image tag"
[[ $PORT =~ ^[0-9]{1,5}$ ]] || die_usage "--port must be 1-65535"
PORT=$((10#$PORT))
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
[[ $RETRIES =~ ^[0-9]+$ ]] || die_usage "--retries must be a positive integer"
RETRIES=${RETRIES#"${RETRIES%%[!0]*}"}
[[ -n $RETRIES ]] || die_usage "--retries must be a positive integer"
((${#RETRIES} <= 18)) || die_usage "--retries is too big"
is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
[[ -n $DOCKER_BIN ]] || DOCKER_BIN=docker

dock() { "$DOCKER_BIN" "$@" >&2; }

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm -f "$NAME-$VERSION" || log ERROR "rollback: could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "rollback: could not restart $NAME-$PREVIOUS"
  fi
  log ERROR "rollback done: deploy of $VERSION failed"
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
    if ((attempt < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log INFO "deploying $IMAGE:$VERSION as $NAME-$VERSION on 127.0.0.1:$PORT (serving: ${PREVIOUS:-none})"
log INFO "building $IMAGE:$VERSION"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  if ! dock stop "$NAME-$PREVIOUS"; then
    log ERROR "could not stop $NAME-$PREVIOUS"
    exit 1
  fi
fi

log INFO "starting $NAME-$VERSION"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container $NAME-$VERSION did not start"; roll_back; }

healthy || { log ERROR "$NAME-$VERSION never became healthy"; roll_back; }

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm -f "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "promoted $VERSION"
exit 0
