#!/usr/bin/env bash
# Build a new version of the model server, swap it in on the same port, check its health,
# and roll back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

DOCKER="${DOCKER:-docker}"
IMAGE=ml-model
NAME=ml-model
PORT=8000
CONTEXT=.
STATE_FILE=.deployed-version
RETRIES=10
INTERVAL=1
TIMEOUT=5
COMMAND_TIMEOUT=600
BUILD_ARGS=()
LABELS=()
VERSION=""

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME        image repository; builds and runs NAME:VERSION (default ml-model; may hold a registry:port)
  --name NAME         container name prefix; the container is NAME-VERSION (default ml-model)
  --port PORT         host port on 127.0.0.1 the service answers on (default 8000)
  --context DIR       docker build context (default .)
  --build-arg K=V     passed to docker build (repeatable)
  --label K=V         put on the container (repeatable)
  --state-file PATH   file holding the version now serving (default .deployed-version)
  --retries N         health checks before giving up (default 10)
  --interval SECONDS  pause between health checks (default 1)
  --timeout SECONDS   limit for one health request (default 5)
  --docker PATH       docker binary (default docker, env DOCKER)
USAGE
}

die_usage() {
  echo "deploy.sh: $*" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! $1 =~ ^0*\.?0*$ ]]; }
# Leading zeros aside, at most 18 digits: past 2**63 bash arithmetic wraps without a word.
is_positive_integer() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

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
        --docker) DOCKER=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;  # never the whole word: --build-arg=K=V may hold a token
    *)
      [[ -z $VERSION ]] || die_usage "only one VERSION, got a second one (not shown: it may hold a token)"
      VERSION=$1
      shift
      ;;
  esac
done

[[ -n $VERSION ]] || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "'$VERSION' is not a valid image tag"
[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die_usage "'$NAME' is not a valid container name"
[[ $IMAGE =~ ^[a-z0-9][a-z0-9._/:-]*$ ]] || die_usage "'$IMAGE' is not a valid image repository"
is_port "$PORT" || die_usage "--port must be 1-65535, not '$PORT'"
is_positive_integer "$RETRIES" || die_usage "--retries must be a positive integer of at most 18 digits, not '$RETRIES'"
RETRIES=$((10#$RETRIES)) # decimal: bash arithmetic would read 010 as octal 8
is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number of seconds, not '$INTERVAL'"
is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds, not '$TIMEOUT'"

NEW="$NAME-$VERSION"
PREVIOUS_VERSION=""
if [[ -s $STATE_FILE ]]; then
  PREVIOUS_VERSION=$(<"$STATE_FILE")
fi
PREVIOUS="${PREVIOUS_VERSION:+$NAME-$PREVIOUS_VERSION}"

# Every docker call is bounded; its own output goes to stderr so stdout holds only our log.
dock() { timeout "$COMMAND_TIMEOUT" "$DOCKER" "$@" >&2; }

healthy() {
  local attempt code
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health ok version=$VERSION attempt=$attempt"
      return 0
    fi
    log WARN "health not ok version=$VERSION attempt=$attempt status=${code:-none}"
    ((attempt == RETRIES)) || sleep "$INTERVAL"
  done
  return 1
}

roll_back() {
  log ERROR "rolling back version=$VERSION reason=$1"
  # The broken container holds the port, so it goes before the previous one starts.
  dock rm --force "$NEW" || log ERROR "could not remove $NEW"
  if [[ -n $PREVIOUS ]]; then
    dock start "$PREVIOUS" || log ERROR "could not restart $PREVIOUS; nothing is serving"
    log INFO "rollback done serving=$PREVIOUS_VERSION"
  fi
  exit 1
}

[[ $VERSION != "$PREVIOUS_VERSION" ]] || { log ERROR "version $VERSION is already serving"; exit 1; }

log INFO "build image=$IMAGE:$VERSION context=$CONTEXT"
dock build -t "$IMAGE:$VERSION" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} "$CONTEXT" || { log ERROR "build failed version=$VERSION"; exit 1; }

if [[ -n $PREVIOUS ]]; then
  log INFO "stop previous=$PREVIOUS"
  dock stop "$PREVIOUS" || log WARN "could not stop $PREVIOUS"
fi

log INFO "run container=$NEW port=$PORT"
dock run --detach --name "$NEW" --publish "127.0.0.1:$PORT:8000" ${LABELS[@]+"${LABELS[@]}"} "$IMAGE:$VERSION" ||
  roll_back "the container did not start"

healthy || roll_back "not healthy after $RETRIES checks"

if [[ -n $PREVIOUS ]]; then
  dock rm --force "$PREVIOUS" || log WARN "could not remove $PREVIOUS"
fi
# A temporary file of its own name beside the state file, so the mv is an atomic rename on the same filesystem.
state_tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" >"$state_tmp"
mv "$state_tmp" "$STATE_FILE"
log INFO "promoted version=$VERSION previous=${PREVIOUS_VERSION:-none}"
