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

die_usage() {
  echo "pipeline.sh: $1" >&2
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
POSITIONAL=()

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
    --) shift; POSITIONAL+=("$@"); break ;;
    -*) die_usage "unknown option $1" ;;
    *) POSITIONAL+=("$1"); shift ;;
  esac
done

((${#POSITIONAL[@]} == 1)) || die_usage "exactly one VERSION expected, got ${#POSITIONAL[@]}"
VERSION="${POSITIONAL[0]}"

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
is_positive_int() { [[ "$1" =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_positive_number() { [[ "$1" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && "$1" =~ [1-9] ]]; }

LC_ALL=C
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "VERSION '$VERSION' is not a valid image tag"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
is_port() { [[ $1 =~ ^0*[0-9]{1,5}$ ]] && is_positive_int "$1" && ((10#$1 <= 65535)); }
is_port "$PORT" || die_usage "--port must be 1-65535"
is_positive_int "$RETRIES" || die_usage "--retries must be a positive integer"
is_positive_int "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be a positive integer"
is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
is_positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER="${CONTAINER:-$NAME}"
TAG="$IMAGE:$VERSION"
PREVIOUS=""

step() { timeout "$STEP_TIMEOUT" "$@"; }
docker_() { step "$DOCKER_BIN" "$@"; }
kubectl_() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_status() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" \
    rollout status "deployment/$NAME" --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

undo() {
  log "deploy of $TAG failed ($1): undoing"
  case "$MODE" in
    docker)
      docker_ rm --force "$NAME" >&2 || log "could not remove container $NAME"
      if [[ -n "$PREVIOUS" ]]; then
        log "bringing back $PREVIOUS"
        docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" >&2 \
          || log "could not start the previous image $PREVIOUS"
      fi ;;
    k8s)
      kubectl_ rollout undo "deployment/$NAME" >&2 || log "rollout undo failed"
      rollout_status || log "the undo's rollout did not finish" ;;
  esac
  exit 1
}

docker_deploy() {
  PREVIOUS="$(docker_ inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS=""
  log "previous image: ${PREVIOUS:-none}"
  docker_ rm --force "$NAME" >/dev/null 2>&1 || true
  docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" >&2 || return 1
}

docker_wait() {
  local started=${EPOCHREALTIME/./} status
  while true; do
    status="$(docker_ inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" || status=unknown
    case "$status" in
      running) return 0 ;;
      exited|dead) log "container $NAME is $status"; return 1 ;;
    esac
    (((${EPOCHREALTIME/./} - started) / 1000000 < ROLLOUT_TIMEOUT)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}

k8s_deploy() {
  kubectl_ set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
}

health_once() {
  case "$MODE" in
    docker) curl -fsS --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
           "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
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

log "building $TAG from $CONTEXT"
docker_ build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_ run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed in $TAG"; exit 1; }

case "$MODE" in
  docker)
    docker_deploy || undo "docker run failed"
    docker_wait || undo "container not running" ;;
  k8s)
    if [[ -n "$KIND_CLUSTER" ]]; then
      step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed"; exit 1; }
    fi
    k8s_deploy || undo "set image failed"
    rollout_status || undo "rollout did not finish in ${ROLLOUT_TIMEOUT}s" ;;
esac
healthy || undo "health check failed $RETRIES time(s)"
log "$TAG deployed and healthy"
