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
set -euo pipefail

usage() {
  sed -n 's/^# \{0,1\}//; /^usage:/,/--help/p' "$0"
}

bad_usage() {
  echo "pipeline.sh: $*" >&2
  usage >&2
  exit 2
}

log() {
  printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

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
DOCKER_BIN=${DOCKER:-docker}
KUBECTL_BIN=${KUBECTL:-kubectl}
KIND_BIN=${KIND:-kind}
BUILD_ARGS=()
LABELS=()
VERSION=""
HAVE_VERSION=0

while (($# > 0)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | --container | \
      --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl | --kind)
      (($# >= 2)) || bad_usage "$1 needs a value"
      value=$2
      case "$1" in
        --mode) MODE=$value ;;
        --image) IMAGE=$value ;;
        --context) CONTEXT=$value ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$value") ;;
        --test-cmd) TEST_CMD=$value ;;
        --name) NAME=$value ;;
        --port) PORT=$value ;;
        --label) LABELS+=(--label "$value") ;;
        --namespace) NAMESPACE=$value ;;
        --container) CONTAINER=$value ;;
        --kind-cluster) KIND_CLUSTER=$value ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$value ;;
        --retries) RETRIES=$value ;;
        --interval) INTERVAL=$value ;;
        --timeout) TIMEOUT=$value ;;
        --step-timeout) STEP_TIMEOUT=$value ;;
        --docker) DOCKER_BIN=$value ;;
        --kubectl) KUBECTL_BIN=$value ;;
        --kind) KIND_BIN=$value ;;
      esac
      shift 2
      ;;
    --)
      shift
      break
      ;;
    -*) bad_usage "unknown option $1" ;;
    *)
      ((HAVE_VERSION == 0)) || bad_usage "exactly one VERSION, got another: $1"
      VERSION=$1
      HAVE_VERSION=1
      shift
      ;;
  esac
done
for rest in "$@"; do
  ((HAVE_VERSION == 0)) || bad_usage "exactly one VERSION, got another: $rest"
  VERSION=$rest
  HAVE_VERSION=1
done

is_positive_int() { [[ $1 =~ ^0*[0-9]{1,9}$ ]] && ((10#$1 > 0)); }  # leading zeros aside
is_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
is_positive_number() { [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && $1 =~ [1-9] ]]; }

((HAVE_VERSION == 1)) || bad_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "not a valid image tag: $VERSION"
[[ $MODE == docker || $MODE == k8s ]] || bad_usage "--mode must be docker or k8s, got $MODE"
is_port "$PORT" || bad_usage "--port must be 1-65535, got $PORT"
is_positive_int "$RETRIES" || bad_usage "--retries must be a positive integer, got $RETRIES"
is_positive_int "$ROLLOUT_TIMEOUT" || bad_usage "--rollout-timeout must be a positive integer, got $ROLLOUT_TIMEOUT"
is_positive_number "$INTERVAL" || bad_usage "--interval must be a positive number, got $INTERVAL"
is_positive_number "$TIMEOUT" || bad_usage "--timeout must be a positive number, got $TIMEOUT"
is_positive_number "$STEP_TIMEOUT" || bad_usage "--step-timeout must be a positive number, got $STEP_TIMEOUT"
RETRIES=$((10#$RETRIES))
ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
PORT=$((10#$PORT))
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"
PREVIOUS=""

# Every docker/kubectl/kind call goes through here: bounded, and its output kept off stdout.
step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
kube() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_status() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

docker_deploy() {
  PREVIOUS=$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  step "$DOCKER_BIN" rm --force "$NAME" >/dev/null 2>&1 || true
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" || return 1
  local deadline=$((SECONDS + ROLLOUT_TIMEOUT)) status
  while :; do
    status=$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME") || status=""
    case "$status" in
      running) return 0 ;;
      exited | dead) log "container $NAME is $status"; return 1 ;;
    esac
    ((SECONDS < deadline)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}

k8s_deploy() {
  if [[ -n $KIND_CLUSTER ]]; then
    step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kube set image "deployment/$NAME" "$CONTAINER=$TAG" || return 1
  rollout_status || return 1
}

healthy_once() {
  case "$MODE" in
    docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get \
      --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
  esac
}

healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if healthy_once; then
      log "healthy after $attempt check(s)"
      return 0
    fi
    log "health check $attempt/$RETRIES failed"
    ((attempt == RETRIES)) || sleep "$INTERVAL"
  done
  return 1
}

undo() {
  log "undo: $1"
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" || log "could not remove $NAME"
      if [[ -n $PREVIOUS ]]; then
        step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" ||
          log "could not bring back $PREVIOUS"
      fi
      ;;
    k8s)
      { kube rollout undo "deployment/$NAME" && rollout_status; } || log "the undo did not finish"
      ;;
  esac
  exit 1
}

log "building $TAG from $CONTEXT"
step "$DOCKER_BIN" build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" || { log "build failed"; exit 1; }
log "testing $TAG"
step "$DOCKER_BIN" run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" || { log "tests failed in $TAG"; exit 1; }
log "deploying $TAG ($MODE)"
case "$MODE" in
  docker) docker_deploy ;;
  k8s) k8s_deploy ;;
esac || undo "deploy of $TAG failed"
healthy || undo "$TAG is not healthy"
log "$TAG deployed and healthy"
