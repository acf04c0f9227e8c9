#!/usr/bin/env bash
# pipeline.sh: build a model-server image, run its tests inside it, deploy it, wait for the
# rollout, check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s      where to deploy (default docker)
  --image NAME           image repository; builds NAME:VERSION (default ml-model)
  --context DIR          docker build context (default .)
  --build-arg K=V        passed to docker build (repeatable)
  --test-cmd CMD         run with `sh -c` in the new image; must exit 0 (default "python -m pytest -q")
  --name NAME            docker: the container; k8s: the Deployment and its Service (default ml-model)
  --port PORT            docker: host port on 127.0.0.1; k8s: the Service port (default 8000)
  --label K=V            docker: put on every container the pipeline starts (repeatable)
  --namespace NS         k8s: the namespace (default default)
  --container NAME       k8s: the pod template's container to update (default: --name)
  --kind-cluster NAME    k8s: load the image into this kind cluster before deploying
  --rollout-timeout S    whole seconds a rollout may take (default 120)
  --retries N            health checks before giving up (default 10)
  --interval S           pause between health checks (default 1)
  --timeout S            limit for one health request (default 5)
  --step-timeout S       limit for every other docker, kubectl and kind command (default 600)
  --docker PATH          docker binary (default docker, env DOCKER)
  --kubectl PATH         kubectl binary (default kubectl, env KUBECTL)
  --kind PATH            kind binary (default kind, env KIND)
  -h, --help             print the usage on stdout, exit 0
USAGE
}

bad_usage() {
  echo "pipeline.sh: $*" >&2
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
have_version=0

while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | --container | \
      --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl | --kind)
      (($# >= 2)) || bad_usage "$1 needs a value"
      case "$1" in
        --mode) MODE=$2 ;;
        --image) IMAGE=$2 ;;
        --context) CONTEXT=$2 ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --test-cmd) TEST_CMD=$2 ;;
        --name) NAME=$2 ;;
        --port) PORT=$2 ;;
        --label) LABELS+=(--label "$2") ;;
        --namespace) NAMESPACE=$2 ;;
        --container) CONTAINER=$2 ;;
        --kind-cluster) KIND_CLUSTER=$2 ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$2 ;;
        --retries) RETRIES=$2 ;;
        --interval) INTERVAL=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --step-timeout) STEP_TIMEOUT=$2 ;;
        --docker) DOCKER_BIN=$2 ;;
        --kubectl) KUBECTL_BIN=$2 ;;
        --kind) KIND_BIN=$2 ;;
      esac
      shift 2 ;;
    --) shift; break ;;
    -*) bad_usage "unknown option $1" ;;
    *)
      ((have_version == 0)) || bad_usage "exactly one VERSION expected"
      VERSION=$1; have_version=1; shift ;;
  esac
done
for arg in "$@"; do
  ((have_version == 0)) || bad_usage "exactly one VERSION expected"
  VERSION=$arg; have_version=1
done

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
is_positive_int() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_positive_number() { [[ $1 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && [[ $1 =~ [1-9] ]]; }

((have_version == 1)) || bad_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "VERSION '$VERSION' is not a valid image tag"
case "$MODE" in docker | k8s) ;; *) bad_usage "--mode must be docker or k8s" ;; esac
if ! [[ "$PORT" =~ ^0*[0-9]{1,5}$ ]] || ! is_positive_int "$PORT" || ((10#$PORT > 65535)); then bad_usage "--port must be 1-65535"; fi
is_positive_int "$RETRIES" || bad_usage "--retries must be a positive integer"
is_positive_int "$ROLLOUT_TIMEOUT" || bad_usage "--rollout-timeout must be a positive integer"
is_positive_number "$INTERVAL" || bad_usage "--interval must be a positive number"
is_positive_number "$TIMEOUT" || bad_usage "--timeout must be a positive number"
is_positive_number "$STEP_TIMEOUT" || bad_usage "--step-timeout must be a positive number"
PORT=$((10#$PORT))
RETRIES=$((10#$RETRIES))
ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"
PREVIOUS=""

docker_() { timeout "$STEP_TIMEOUT" "$DOCKER_BIN" "$@"; }
kubectl_() { timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }

rollout_wait() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

undo() {
  log "undo: $*"
  case "$MODE" in
    docker)
      docker_ rm --force "$NAME" >&2 || log "could not remove $NAME"
      if [[ -n $PREVIOUS ]]; then
        log "bringing back $PREVIOUS"
        docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" >&2 \
          || log "could not bring back $PREVIOUS: a human must look"
      fi ;;
    k8s)
      if ! { kubectl_ rollout undo "deployment/$NAME" >&2 && rollout_wait; }; then
        log "the undo itself failed: a human must look"
      fi ;;
  esac
  exit 1
}

docker_deploy() {
  PREVIOUS=$(docker_ inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  docker_ rm --force "$NAME" >&2 || true
  docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" >&2 || return 1
  local deadline=$((SECONDS + ROLLOUT_TIMEOUT)) status
  while :; do
    status=$(docker_ inspect --format '{{.State.Status}}' "$NAME") || status=""
    case "$status" in
      running) return 0 ;;
      exited | dead) log "container $NAME is $status"; return 1 ;;
    esac
    ((SECONDS < deadline)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}

k8s_deploy() {
  kubectl_ set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
  rollout_wait || return 1
}

healthy() {
  local i
  for ((i = 1; i <= RETRIES; i++)); do
    case "$MODE" in
      docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >&2 && return 0 ;;
      k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get \
        --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >&2 && return 0 ;;
    esac
    log "health check $i/$RETRIES failed"
    ((i == RETRIES)) || sleep "$INTERVAL"
  done
  return 1
}

log "building $TAG"
docker_ build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_ run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed; nothing deployed"; exit 1; }
if [[ $MODE == k8s && -n $KIND_CLUSTER ]]; then
  timeout "$STEP_TIMEOUT" "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 \
    || { log "kind load failed; nothing deployed"; exit 1; }
fi
case "$MODE" in
  docker) docker_deploy || undo "the deploy failed" ;;
  k8s) k8s_deploy || undo "the rollout failed" ;;
esac
healthy || undo "the health check failed"
log "$TAG deployed and healthy"
