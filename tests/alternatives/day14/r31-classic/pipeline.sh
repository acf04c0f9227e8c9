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

die_usage() { echo "pipeline.sh: $*" >&2; usage >&2; exit 2; }
log() { echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] $*" >&2; }

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
LABEL_ARGS=()
PREVIOUS_IMAGE=""
VERSION=""
HAVE_VERSION=0

while (($# > 0)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# >= 2)) || die_usage "$1 needs a value"
      opt=$1 val=$2
      shift 2
      case "$opt" in
        --mode) MODE=$val ;;
        --image) IMAGE=$val ;;
        --context) CONTEXT=$val ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$val") ;;
        --test-cmd) TEST_CMD=$val ;;
        --name) NAME=$val ;;
        --port) PORT=$val ;;
        --label) LABEL_ARGS+=(--label "$val") ;;
        --namespace) NAMESPACE=$val ;;
        --container) CONTAINER=$val ;;
        --kind-cluster) KIND_CLUSTER=$val ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$val ;;
        --retries) RETRIES=$val ;;
        --interval) INTERVAL=$val ;;
        --timeout) TIMEOUT=$val ;;
        --step-timeout) STEP_TIMEOUT=$val ;;
        --docker) DOCKER_BIN=$val ;;
        --kubectl) KUBECTL_BIN=$val ;;
        --kind) KIND_BIN=$val ;;
      esac
      ;;
    -*) die_usage "unknown option $1" ;;
    *)
      ((HAVE_VERSION == 0)) || die_usage "exactly one VERSION expected"
      VERSION=$1 HAVE_VERSION=1
      shift
      ;;
  esac
done

((HAVE_VERSION == 1)) || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac

whole() {  # whole NAME VALUE: a positive decimal integer, printed without leading zeros
  local digits
  [[ $2 =~ ^[0-9]+$ ]] || die_usage "$1 must be a positive whole number: $2"
  digits=$2
  while [[ $digits == 0* ]]; do digits=${digits#0}; done
  [[ -n $digits && ${#digits} -le 18 ]] || die_usage "$1 must be a positive whole number: $2"
  echo "$digits"
}
number() {  # number NAME VALUE: a positive decimal number
  [[ $2 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && $2 =~ [1-9] ]] || die_usage "$1 must be a positive number: $2"
}

RETRIES=$(whole --retries "$RETRIES")
ROLLOUT_TIMEOUT=$(whole --rollout-timeout "$ROLLOUT_TIMEOUT")
PORT=$(whole --port "$PORT")
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
number --interval "$INTERVAL"
number --timeout "$TIMEOUT"
number --step-timeout "$STEP_TIMEOUT"
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"

step() { timeout "$STEP_TIMEOUT" "$@"; }
kc() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" \
    rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s"
}

undo() {
  log "undo: $1"
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "undo: docker rm --force $NAME failed"
      if [[ -n $PREVIOUS_IMAGE ]]; then
        step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" \
          "$PREVIOUS_IMAGE" >&2 || log "undo FAILED: could not start $PREVIOUS_IMAGE again"
      else
        log "undo: no previous version to bring back"
      fi
      ;;
    k8s)
      { kc rollout undo "deployment/$NAME" >&2 && rollout_wait >&2; } || log "undo FAILED: rollout undo did not finish"
      ;;
  esac
  exit 1
}

now_ms() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }

wait_running() {
  local started state
  started=$(now_ms)
  while :; do
    state=$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || state=unknown
    case "$state" in
      running) return 0 ;;
      exited|dead) log "container $NAME $state"; return 1 ;;
    esac
    (( ($(now_ms) - started) / 1000 < ROLLOUT_TIMEOUT )) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
}

docker_deploy() {
  PREVIOUS_IMAGE=$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS_IMAGE=""
  log "previous image: ${PREVIOUS_IMAGE:-none}"
  step "$DOCKER_BIN" rm --force "$NAME" >&2 || true
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$TAG" >&2 || return 1
  wait_running || return 1
}

k8s_deploy() {
  kc set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
  rollout_wait >&2 || return 1
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
    if health_once; then log "healthy after $i check(s)"; return 0; fi
    log "health check $i/$RETRIES failed"
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log "build $TAG"
step "$DOCKER_BIN" build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "test $TAG"
step "$DOCKER_BIN" run --rm "${LABEL_ARGS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }

if [[ $MODE == k8s && -n $KIND_CLUSTER ]]; then
  step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed"; exit 1; }
fi

case "$MODE" in
  docker) docker_deploy || undo "deploy failed" ;;
  k8s) k8s_deploy || undo "rollout failed" ;;
esac
healthy || undo "health check failed"
log "deployed $TAG"
