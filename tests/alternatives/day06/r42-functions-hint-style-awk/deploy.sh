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
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_decimal() {
  [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] && [[ $1 =~ [1-9] ]]
}

# Prints the number without leading zeros when $1 is a positive integer of at most 18 digits.
positive_int() {
  local n
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  n=${1#"${1%%[!0]*}"}
  [[ -n $n ]] && ((${#n} <= 18)) || return 1
  printf '%s\n' "$n"
}

ALNUM=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
TAG_RE="^[${ALNUM}_][${ALNUM}_.-]{0,127}\$"

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
BUILD_ARG_KEYS=()
LABELS=()
VERSION=
PREVIOUS=
positional=()

need() { (($1 >= 2)) || die_usage "$2 needs a value"; }

while (($# > 0)); do
  case $1 in
    --image) need $# "$1"; IMAGE=$2; shift 2 ;;
    --name) need $# "$1"; NAME=$2; shift 2 ;;
    --port) need $# "$1"; PORT=$2; shift 2 ;;
    --context) need $# "$1"; CONTEXT=$2; shift 2 ;;
    --build-arg) need $# "$1"; BUILD_ARGS+=(--build-arg "$2"); BUILD_ARG_KEYS+=("${2%%=*}"); shift 2 ;;
    --label) need $# "$1"; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need $# "$1"; STATE_FILE=$2; shift 2 ;;
    --retries) need $# "$1"; RETRIES=$2; shift 2 ;;
    --interval) need $# "$1"; INTERVAL=$2; shift 2 ;;
    --timeout) need $# "$1"; TIMEOUT=$2; shift 2 ;;
    --docker) need $# "$1"; DOCKER=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || die_usage "exactly one VERSION is needed"
VERSION=${positional[0]}
[[ $VERSION =~ $TAG_RE ]] || die_usage "not a valid image tag: $VERSION"
PORT=$(positive_int "$PORT") || die_usage "--port must be 1-65535"
((10#$PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES=$(positive_int "$RETRIES") || die_usage "--retries must be a positive integer"
is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
[[ -n $IMAGE && -n $NAME && -n $CONTEXT && -n $STATE_FILE && -n $DOCKER ]] || die_usage "empty value"

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
fi

dock() { timeout 600 "$DOCKER" "$@" >&2; }

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "rollback: could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    if dock start "$NAME-$PREVIOUS"; then
      log INFO "rollback: $NAME-$PREVIOUS serves again"
    else
      log ERROR "rollback: could not restart $NAME-$PREVIOUS"
    fi
  fi
  log ERROR "deploy of $VERSION failed, rollback done"
  exit 1
}

healthy() {
  local i code
  for ((i = 1; i <= 10#$RETRIES; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$RETRIES passed"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed (status ${code:-000})"
    if ((i < 10#$RETRIES)); then
      sleep "$INTERVAL"
    fi
  done
  return 1
}

log INFO "deploying $IMAGE:$VERSION as $NAME-$VERSION on 127.0.0.1:$PORT (serving: ${PREVIOUS:-none})"
log INFO "building $IMAGE:$VERSION from $CONTEXT${BUILD_ARG_KEYS[*]:+ with build args ${BUILD_ARG_KEYS[*]}}"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT" 2>/dev/null; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS, carrying on"
fi

log INFO "starting $NAME-$VERSION"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container $NAME-$VERSION did not start"; roll_back; }

healthy || { log ERROR "$NAME-$VERSION never became healthy"; roll_back; }

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp="$STATE_FILE.tmp.$$"
printf '%s\n' "$VERSION" > "$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "promoted $IMAGE:$VERSION"
