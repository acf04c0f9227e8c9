#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

IMAGE="ml-model"
NAME="ml-model"
PORT=8000
CONTEXT="."
STATE_FILE=".deployed-version"
RETRIES=10
INTERVAL=1
TIMEOUT=5
DOCKER="${DOCKER:-docker}"
BUILD_ARGS=()
LABELS=()
VERSION=""
PREVIOUS=""

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME        image repository (default ml-model)
  --name NAME         container name prefix; the container is NAME-VERSION (default ml-model)
  --port PORT         host port on 127.0.0.1 (default 8000)
  --context DIR       docker build context (default .)
  --build-arg K=V     passed to docker build (repeatable)
  --label K=V         put on the container (repeatable)
  --state-file PATH   file holding the version now serving (default .deployed-version)
  --retries N         health checks before giving up (default 10)
  --interval SECONDS  pause between health checks (default 1)
  --timeout SECONDS   limit for one health request (default 5)
  --docker PATH       docker binary (default docker, env DOCKER)
  -h, --help          print this help, exit 0
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

is_positive_number() {
  [[ $1 =~ ^([0-9]+(\.[0-9]+)?|\.[0-9]+)$ && $1 =~ [1-9] ]]
}

is_positive_integer() {
  [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0))
}

is_port() {
  [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535))
}

need_value() {
  (($2 >= 2)) || die_usage "$1 needs a value"
}

parse_args() {
  local positional=()
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
      --docker) need_value "$1" $#; DOCKER=$2; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      --) shift; positional+=("$@"); break ;;
      -*) die_usage "unknown option: ${1%%=*}" ;;
      *) positional+=("$1"); shift ;;
    esac
  done
  ((${#positional[@]} == 1)) || die_usage "exactly one VERSION is needed, got ${#positional[@]}"
  VERSION=${positional[0]}
  [[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
  is_port "$PORT" || die_usage "--port must be 1-65535: $PORT"
  PORT=$((10#$PORT))
  is_positive_integer "$RETRIES" || die_usage "--retries must be a positive integer: $RETRIES"
  [[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $RETRIES"
  RETRIES=$((10#$RETRIES))
  is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number: $INTERVAL"
  is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number: $TIMEOUT"
  [[ -n $IMAGE && -n $NAME && -n $CONTEXT && -n $STATE_FILE && -n $DOCKER ]] || die_usage "empty value"
}

# Every docker call is bounded and keeps stdout for the log.
dock() {
  timeout 600 "$DOCKER" "$@" >&2
}

healthy_once() {
  local code
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
  log INFO "health check status=${code:-000}"
  [[ $code == 200 ]]
}

wait_healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if healthy_once; then
      return 0
    fi
    if ((attempt < RETRIES)); then
      sleep "$INTERVAL"
    fi
  done
  return 1
}

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    if dock start "$NAME-$PREVIOUS"; then
      log INFO "restarted $NAME-$PREVIOUS"
    else
      log ERROR "could not restart $NAME-$PREVIOUS"
    fi
  fi
  exit 1
}

write_state() {
  local tmp
  tmp=$(mktemp "$(dirname -- "$STATE_FILE")/.deployed.XXXXXX")
  printf '%s\n' "$VERSION" >"$tmp"
  mv -f -- "$tmp" "$STATE_FILE"
}

main() {
  parse_args "$@"
  if [[ -s $STATE_FILE ]]; then
    PREVIOUS=$(<"$STATE_FILE")
    PREVIOUS=${PREVIOUS//[[:space:]]/}
  fi
  [[ $VERSION != "$PREVIOUS" ]] || { log ERROR "$VERSION is already serving, nothing to deploy"; exit 1; }
  log INFO "deploying $IMAGE:$VERSION as $NAME-$VERSION on 127.0.0.1:$PORT (serving: ${PREVIOUS:-none})"

  log INFO "building $IMAGE:$VERSION"
  if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
    log ERROR "build failed"
    exit 1
  fi

  if [[ -n $PREVIOUS ]]; then
    log INFO "stopping $NAME-$PREVIOUS"
    dock stop "$NAME-$PREVIOUS" || log ERROR "could not stop $NAME-$PREVIOUS"
  fi

  log INFO "starting $NAME-$VERSION"
  if ! dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION"; then
    log ERROR "container did not start"
    roll_back
  fi

  if ! wait_healthy; then
    log ERROR "$NAME-$VERSION never became healthy"
    roll_back
  fi

  if [[ -n $PREVIOUS ]]; then
    log INFO "removing $NAME-$PREVIOUS"
    dock rm --force "$NAME-$PREVIOUS" || log ERROR "could not remove $NAME-$PREVIOUS"
  fi
  write_state
  log INFO "promoted version=$VERSION"
  exit 0
}

main "$@"
