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
export LC_ALL=C

usage() {
  sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$0"
}
usage_error() {
  printf 'pipeline.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}
log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# --- settings: only the tool binaries come from the environment --------------------------------
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
VERSION=""
VERSION_COUNT=0
BUILD_ARGS=()
LABEL_ARGS=()
PREVIOUS_IMAGE=""

while (($# > 0)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | --container \
      | --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl \
      | --kind)
      (($# >= 2)) || usage_error "$1 needs a value"
      case "$1" in
        --mode) MODE="$2" ;;
        --image) IMAGE="$2" ;;
        --context) CONTEXT="$2" ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --test-cmd) TEST_CMD="$2" ;;
        --name) NAME="$2" ;;
        --port) PORT="$2" ;;
        --label) LABEL_ARGS+=(--label "$2") ;;
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
    -*) usage_error "unknown option: $1" ;;
    *) VERSION="$1"; VERSION_COUNT=$((VERSION_COUNT + 1)); shift ;;
  esac
done

# whole number >= 1 with at most 18 significant digits, normalised to decimal
whole() {
  local value="$1" digits
  [[ "$value" =~ ^[0-9]+$ ]] || return 1
  digits="${value#"${value%%[1-9]*}"}"
  [[ -n "$digits" && ${#digits} -le 18 ]] || return 1
  printf '%s' "$digits"
}
positive_number() {
  [[ "$1" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && "$1" =~ [1-9] ]]
}

((VERSION_COUNT == 1)) || usage_error "exactly one VERSION argument expected"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "invalid image tag: $VERSION"
case "$MODE" in docker | k8s) ;; *) usage_error "--mode must be docker or k8s" ;; esac
PORT=$(whole "$PORT") || usage_error "--port must be 1-65535"
((PORT <= 65535)) || usage_error "--port must be 1-65535"
RETRIES=$(whole "$RETRIES") || usage_error "--retries must be a positive integer"
ROLLOUT_TIMEOUT=$(whole "$ROLLOUT_TIMEOUT") || usage_error "--rollout-timeout must be a positive integer"
positive_number "$INTERVAL" || usage_error "--interval must be a positive number"
positive_number "$TIMEOUT" || usage_error "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || usage_error "--step-timeout must be a positive number"
[[ -n "$CONTAINER" ]] || CONTAINER="$NAME"
TAG="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

# --- steps ----------------------------------------------------------------------------------
step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
capture() { timeout "$STEP_TIMEOUT" "$@"; }
now_us() { local t="$EPOCHREALTIME"; printf '%s' "${t/./}"; }

run_container() { # IMAGE: detached, named, published, labelled
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
    ${LABEL_ARGS[@]+"${LABEL_ARGS[@]}"} "$1"
}

docker_deploy() {
  local previous="" state="" started deadline
  if previous=$(capture "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null); then
    PREVIOUS_IMAGE="$previous"
  fi
  step "$DOCKER_BIN" rm --force "$NAME" || true
  started=$(now_us)
  deadline=$((started + ROLLOUT_TIMEOUT * 1000000))
  log "starting $TAG as $NAME"
  run_container "$TAG" || return 1
  while true; do
    state=$(capture "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || state=""
    case "$state" in
      running) return 0 ;;
      exited | dead) log "container $NAME $state"; return 1 ;;
    esac
    (($(now_us) < deadline)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
}

docker_healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if curl --fail --silent --show-error --max-time "$TIMEOUT" -o /dev/null "http://127.0.0.1:$PORT/health"; then
      return 0
    fi
    ((attempt < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

kubectl_ns() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

k8s_deploy() {
  kubectl_ns set image "deployment/$NAME" "$CONTAINER=$TAG" || return 1
  rollout_wait || return 1
}

k8s_healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get \
      --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null; then
      return 0
    fi
    ((attempt < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

undo() {
  log "deploy failed ($1): undoing"
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" || log "undo: removing $NAME failed"
      if [[ -n "$PREVIOUS_IMAGE" ]]; then
        run_container "$PREVIOUS_IMAGE" || log "undo: starting $PREVIOUS_IMAGE again failed"
      fi ;;
    k8s)
      if kubectl_ns rollout undo "deployment/$NAME"; then
        rollout_wait || log "undo: the rollout back did not finish"
      else
        log "undo: kubectl rollout undo failed"
      fi ;;
  esac
  exit 1
}

log "building $TAG"
step "$DOCKER_BIN" build --tag "$TAG" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} "$CONTEXT" || { log "build failed"; exit 1; }
log "testing $TAG"
step "$DOCKER_BIN" run --rm ${LABEL_ARGS[@]+"${LABEL_ARGS[@]}"} "$TAG" sh -c "$TEST_CMD" || { log "tests failed"; exit 1; }

case "$MODE" in
  docker)
    docker_deploy || undo "the container did not start"
    docker_healthy || undo "health check failed" ;;
  k8s)
    if [[ -n "$KIND_CLUSTER" ]]; then
      step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" || { log "kind load failed"; exit 1; }
    fi
    k8s_deploy || undo "set image or rollout failed"
    k8s_healthy || undo "health check failed" ;;
esac
log "$TAG deployed and healthy"
