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
  sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$0"
}

die_usage() {
  printf 'pipeline.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}

log() {
  printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

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
VERSION_SEEN=0

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
is_posint() { [[ "$1" =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_posnum() { [[ "$1" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] && [[ "$1" =~ [1-9] ]]; }

while (($# > 0)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# >= 2)) || die_usage "$1 needs a value"
      value="$2"
      case "$1" in
        --mode) MODE="$value" ;;
        --image) IMAGE="$value" ;;
        --context) CONTEXT="$value" ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$value") ;;
        --test-cmd) TEST_CMD="$value" ;;
        --name) NAME="$value" ;;
        --port) PORT="$value" ;;
        --label) LABELS+=(--label "$value") ;;
        --namespace) NAMESPACE="$value" ;;
        --container) CONTAINER="$value" ;;
        --kind-cluster) KIND_CLUSTER="$value" ;;
        --rollout-timeout) ROLLOUT_TIMEOUT="$value" ;;
        --retries) RETRIES="$value" ;;
        --interval) INTERVAL="$value" ;;
        --timeout) TIMEOUT="$value" ;;
        --step-timeout) STEP_TIMEOUT="$value" ;;
        --docker) DOCKER_BIN="$value" ;;
        --kubectl) KUBECTL_BIN="$value" ;;
        --kind) KIND_BIN="$value" ;;
      esac
      shift 2 ;;
    --) shift; for arg in "$@"; do VERSION="$arg"; VERSION_SEEN=$((VERSION_SEEN + 1)); done; break ;;
    -*) die_usage "unknown option $1" ;;
    *) VERSION="$1"; VERSION_SEEN=$((VERSION_SEEN + 1)); shift ;;
  esac
done

((VERSION_SEEN == 1)) || die_usage "exactly one VERSION is needed"
if ! [[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || [[ "$VERSION" == *$'\n'* ]]; then
  die_usage "bad VERSION: $VERSION"
fi
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
if ! [[ "$PORT" =~ ^0*[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die_usage "--port must be 1-65535"; fi
is_posint "$RETRIES" || die_usage "--retries must be a positive integer"
is_posint "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be a positive integer"
is_posnum "$INTERVAL" || die_usage "--interval must be a positive number"
is_posnum "$TIMEOUT" || die_usage "--timeout must be a positive number"
is_posnum "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER="${CONTAINER:-$NAME}"
REF="$IMAGE:$VERSION"
PREVIOUS=""

step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
kctl() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

undo() {
  log "undo: $1"
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" || log "removing $NAME failed"
      if [[ -n "$PREVIOUS" ]]; then
        step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" \
          || log "could not bring back $PREVIOUS"
      fi ;;
    k8s)
      if kctl rollout undo "deployment/$NAME"; then
        rollout_wait || log "the undone rollout did not finish"
      else
        log "rollout undo failed"
      fi ;;
  esac
  exit 1
}

docker_deploy() {
  PREVIOUS="$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  step "$DOCKER_BIN" rm --force "$NAME" || true
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$REF" || return 1
  local deadline=$((SECONDS + ROLLOUT_TIMEOUT)) status
  while :; do
    status="$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME")" || status=""
    case "$status" in
      running) return 0 ;;
      exited|dead) log "container $NAME is $status"; return 1 ;;
    esac
    ((SECONDS < deadline)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
}

k8s_deploy() {
  if [[ -n "$KIND_CLUSTER" ]]; then
    step "$KIND_BIN" load docker-image "$REF" --name "$KIND_CLUSTER" || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kctl set image "deployment/$NAME" "$CONTAINER=$REF" || return 1
  rollout_wait || return 1
}

health_once() {
  case "$MODE" in
    docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get \
           --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
  esac
}

healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if health_once; then
      log "healthy after $attempt check(s)"
      return 0
    fi
    if ((attempt < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log "building $REF from $CONTEXT"
step "$DOCKER_BIN" build --tag "$REF" "${BUILD_ARGS[@]}" "$CONTEXT" || { log "build failed"; exit 1; }
log "testing $REF"
step "$DOCKER_BIN" run --rm "${LABELS[@]}" "$REF" sh -c "$TEST_CMD" || { log "tests failed, nothing deployed"; exit 1; }

case "$MODE" in
  docker) docker_deploy || undo "deploy of $REF failed" ;;
  k8s) k8s_deploy || undo "rollout of $REF failed" ;;
esac
healthy || undo "$REF is not healthy"
log "$REF deployed and healthy"
