#!/usr/bin/env bash
#
# pipeline.sh: build a model-server image, run its tests inside it, deploy it, wait for the
# rollout, check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
#
# usage: pipeline.sh [options] VERSION
#   --mode docker|k8s      where to deploy (default docker)
#   --image NAME           image repository; builds NAME:VERSION (default ml-model)
#   --context DIR          docker build context (default .)
#   --build-arg K=V        passed to docker build (repeatable)
#   --test-cmd CMD         run with `sh -c` in the new image; must exit 0 (default "python -m pytest -q")
#   --name NAME            docker: the container; k8s: the Deployment and its Service (default ml-model)
#   --port PORT            docker: host port on 127.0.0.1; k8s: the Service port (default 8000)
#   --label K=V            docker: put on every container the pipeline starts (repeatable)
#   --namespace NS         k8s: the namespace (default default)
#   --container NAME       k8s: the pod template's container to update (default: --name)
#   --kind-cluster NAME    k8s: load the image into this kind cluster before deploying
#   --rollout-timeout S    whole seconds a rollout may take (default 120)
#   --retries N            health checks before giving up (default 10)
#   --interval S           pause between health checks (default 1)
#   --timeout S            limit for one health request (default 5)
#   --step-timeout S       limit for every other docker, kubectl and kind command (default 600)
#   --docker PATH          docker binary (default docker, env DOCKER)
#   --kubectl PATH         kubectl binary (default kubectl, env KUBECTL)
#   --kind PATH            kind binary (default kind, env KIND)
#   -h, --help             print the usage on stdout, exit 0
#

set -euo pipefail

usage() {
  sed -n 's/^# \{0,1\}//; /^usage:/,/^-h/p' "$0" | sed -n '/^usage:/,/--help/p'
}

die_usage() {
  printf 'pipeline.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

MODE=docker
IMAGE=ml-model
CONTEXT=.
BUILD_ARGS=()
TEST_CMD="python -m pytest -q"
NAME=ml-model
PORT=8000
LABELS=()
NAMESPACE=default
CONTAINER=""
KIND_CLUSTER=""
ROLLOUT_TIMEOUT=120
RETRIES=10
INTERVAL=1
TIMEOUT=5
STEP_TIMEOUT=600
DOCKER_BIN="${DOCKER:-docker}"
KUBECTL_BIN="${KUBECTL:-kubectl}"
KIND_BIN="${KIND:-kind}"
VERSION=""
HAVE_VERSION=0

while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | --container | \
      --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl | --kind)
      (($# >= 2)) || die_usage "$1 needs a value"
      case "$1" in
        --mode) MODE="$2" ;;
        --image) IMAGE="$2" ;;
        --context) CONTEXT="$2" ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --test-cmd) TEST_CMD="$2" ;;
        --name) NAME="$2" ;;
        --port) PORT="$2" ;;
        --label) LABELS+=(--label "$2") ;;
        --namespace) NAMESPACE="$2" ;;
        --container) CONTAINER="$2" ;;
        --kind-cluster) KIND_CLUSTER="$2" ;;
        --rollout-timeout) ROLLOUT_TIMEOUT="$2" ;;
        --retries) RETRIES="$2" ;;
        --interval) INTERVAL="$2" ;;
        --timeout) TIMEOUT="$2" ;;
        --step-timeout) STEP_TIMEOUT="$2" ;;
        --docker) DOCKER_BIN="$2" ;;
        --kubectl) KUBECTL_BIN="$2" ;;
        --kind) KIND_BIN="$2" ;;
      esac
      shift 2 ;;
    --) shift
      while (($# > 0)); do
        ((HAVE_VERSION == 0)) || die_usage "exactly one VERSION expected"
        VERSION="$1"; HAVE_VERSION=1; shift
      done ;;
    -*) die_usage "unknown option $1" ;;
    *)
      ((HAVE_VERSION == 0)) || die_usage "exactly one VERSION expected"
      VERSION="$1"; HAVE_VERSION=1; shift ;;
  esac
done

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
positive_int() { [[ "$1" =~ ^0*[1-9][0-9]{0,17}$ ]]; }
positive_number() { [[ "$1" =~ ^([0-9]+|[0-9]+\.[0-9]+|\.[0-9]+)$ ]] && [[ "$1" =~ [1-9] ]]; }

((HAVE_VERSION == 1)) || die_usage "a VERSION is required"
if [[ ! "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ || "$VERSION" == *$'\n'* ]]; then
  die_usage "invalid VERSION tag"
fi
case "$MODE" in docker | k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
if [[ ! "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
  die_usage "--port must be 1-65535"
fi
positive_int "$RETRIES" || die_usage "--retries must be a positive integer"
positive_int "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be a positive integer"
positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER="${CONTAINER:-$NAME}"
REF="$IMAGE:$VERSION"
PREVIOUS=""

step() { timeout "$STEP_TIMEOUT" "$@"; }
docker_() { step "$DOCKER_BIN" "$@"; }
kubectl_() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }

rollout_status() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

undo() {
  log "deploy failed: $1; undoing"
  case "$MODE" in
    docker)
      docker_ rm --force "$NAME" >&2 || true
      if [[ -n "$PREVIOUS" ]]; then
        docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" >&2 \
          || log "could not bring $PREVIOUS back"
      fi ;;
    k8s)
      kubectl_ rollout undo "deployment/$NAME" >&2 || log "rollout undo failed"
      rollout_status || log "the undo did not finish" ;;
  esac
  exit 1
}

docker_deploy() {
  PREVIOUS="$(docker_ inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  docker_ rm --force "$NAME" >&2 || return 1
  docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$REF" >&2 || return 1
}

docker_wait() {
  local started=${EPOCHREALTIME/./} state
  while :; do
    state="$(docker_ inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" || state=unknown
    case "$state" in
      running) return 0 ;;
      exited | dead) log "container $NAME is $state"; return 1 ;;
    esac
    (((${EPOCHREALTIME/./} - started) / 1000000 < ROLLOUT_TIMEOUT)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}

k8s_deploy() {
  if [[ -n "$KIND_CLUSTER" ]]; then
    step "$KIND_BIN" load docker-image "$REF" --name "$KIND_CLUSTER" >&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kubectl_ set image "deployment/$NAME" "$CONTAINER=$REF" >&2 || return 1
}

health_once() {
  case "$MODE" in
    docker) curl --silent --fail --max-time "$TIMEOUT" --output /dev/null "http://127.0.0.1:$PORT/health" ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
           "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null 2>&1 ;;
  esac
}

healthy() {
  local i
  for ((i = 1; i <= RETRIES; i++)); do
    if health_once; then
      log "healthy after $i check(s)"
      return 0
    fi
    log "health check $i/$RETRIES failed"
    ((i < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

log "building $REF from $CONTEXT"
docker_ build --tag "$REF" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $REF"
docker_ run --rm "${LABELS[@]}" "$REF" sh -c "$TEST_CMD" >&2 || { log "tests failed in $REF"; exit 1; }

case "$MODE" in
  docker)
    docker_deploy || undo "could not start $REF"
    docker_wait || undo "container did not start" ;;
  k8s)
    k8s_deploy || undo "could not set image $REF"
    rollout_status || undo "rollout did not finish" ;;
esac
healthy || undo "health check failed"
log "$REF deployed and healthy"
