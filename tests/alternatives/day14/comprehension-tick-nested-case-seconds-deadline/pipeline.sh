#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy, wait, check health, undo on failure.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s      where to deploy (default docker)
  --image NAME           image repository; builds NAME:VERSION (default ml-model)
  --context DIR          docker build context (default .)
  --build-arg K=V        passed to docker build (repeatable)
  --test-cmd CMD         run with `sh -c` in the new image (default "python -m pytest -q")
  --name NAME            docker: the container; k8s: the Deployment and its Service (default ml-model)
  --port PORT            docker: host port on 127.0.0.1; k8s: the Service port (default 8000)
  --label K=V            docker: put on every container the pipeline starts (repeatable)
  --namespace NS         k8s: the namespace (default default)
  --container NAME       k8s: the container to update (default: --name)
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

die_usage() {
  echo "pipeline.sh: $*" >&2
  usage >&2
  exit 2
}

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

MODE=docker
IMAGE=ml-model
CONTEXT=.
TEST_CMD="python -m pytest -q"
NAME=ml-model
PORT=8000
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
BUILD_ARGS=()
LABELS=()
VERSION=""
VERSIONS=0

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
      shift 2
      ;;
    -*) die_usage "unknown option $1" ;;
    *) VERSION="$1"; VERSIONS=$((VERSIONS + 1)); shift ;;
  esac
done

((VERSIONS == 1)) || die_usage "exactly one VERSION is needed"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
case "$MODE" in docker|k8s) ;; *) die_usage "bad --mode $MODE" ;; esac

# whole_number NAME VALUE: positive decimal integer, at most 9 digits once leading zeros are dropped
whole_number() {
  local digits
  [[ "$2" =~ ^[0-9]+$ ]] || die_usage "$1 must be a positive whole number, got $2"
  digits="$2"
  while [[ "$digits" == 0* ]]; do digits="${digits#0}"; done
  [[ -n "$digits" && ${#digits} -le 18 ]] || die_usage "$1 must be a positive whole number, got $2"
  echo "$digits"
}
positive_number() {
  [[ "$2" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && "$2" =~ [1-9] ]] || die_usage "$1 must be a positive number, got $2"
}

PORT=$(whole_number --port "$PORT") || exit 2
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES=$(whole_number --retries "$RETRIES") || exit 2
ROLLOUT_TIMEOUT=$(whole_number --rollout-timeout "$ROLLOUT_TIMEOUT") || exit 2
positive_number --interval "$INTERVAL"
positive_number --timeout "$TIMEOUT"
positive_number --step-timeout "$STEP_TIMEOUT"
CONTAINER="${CONTAINER:-$NAME}"
TAG="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))
PREVIOUS=""

docker_() { timeout "$STEP_TIMEOUT" "$DOCKER_BIN" "$@"; }
kubectl_() { timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

docker_deploy() {
  PREVIOUS=$(docker_ inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  docker_ rm --force "$NAME" >/dev/null 2>&1 || true
  docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" >&2 || return 1
  local started=${EPOCHREALTIME/./} status
  while true; do
    status=$(docker_ inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || status=""
    case "$status" in
      running) return 0 ;;
      exited|dead) log "container $NAME $status"; return 1 ;;
    esac
    if (((${EPOCHREALTIME/./} - started) / 1000000 >= ROLLOUT_TIMEOUT)); then
      log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

k8s_deploy() {
  kubectl_ set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
  rollout_wait || return 1
}

health_once() {
  case "$MODE" in
    docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
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
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

undo() {
  log "undo: $*"
  case "$MODE" in
    docker)
      docker_ rm --force "$NAME" >&2 || log "undo: docker rm failed"
      if [[ -n "$PREVIOUS" ]]; then
        docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" >&2 \
          || log "undo FAILED: could not run $PREVIOUS again"
      fi
      ;;
    k8s)
      if kubectl_ rollout undo "deployment/$NAME" >&2; then
        rollout_wait || log "undo FAILED: the undo's rollout did not finish"
      else
        log "undo FAILED: kubectl rollout undo failed"
      fi
      ;;
  esac
  exit 1
}

log "building $TAG"
docker_ build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_ run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }

if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
  timeout "$STEP_TIMEOUT" "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed"; exit 1; }
fi

case "$MODE" in
  docker) docker_deploy ;;
  k8s) k8s_deploy ;;
esac || undo "deploy of $TAG failed"

healthy || undo "$TAG is not healthy"
log "$TAG deployed and healthy"
