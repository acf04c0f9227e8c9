#!/usr/bin/env bash
#
# pipeline.sh: build a model-server image, run its tests inside it, deploy it, wait for the
# rollout, check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail
LC_ALL=C

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
  echo "pipeline.sh: $*" >&2
  usage >&2
  exit 2
}

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# --- settings: defaults only, never from the environment (except the tool binaries) ---
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
LABELS=()
PREVIOUS_IMAGE=""

for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
  esac
done

need_value() { (($2 >= 2)) || die_usage "$1 needs a value"; }

while (($# > 0)); do
  case "$1" in
    --mode) need_value "$1" $#; MODE=$2; shift 2 ;;
    --image) need_value "$1" $#; IMAGE=$2; shift 2 ;;
    --context) need_value "$1" $#; CONTEXT=$2; shift 2 ;;
    --build-arg) need_value "$1" $#; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
    --test-cmd) need_value "$1" $#; TEST_CMD=$2; shift 2 ;;
    --name) need_value "$1" $#; NAME=$2; shift 2 ;;
    --port) need_value "$1" $#; PORT=$2; shift 2 ;;
    --label) need_value "$1" $#; LABELS+=(--label "$2"); shift 2 ;;
    --namespace) need_value "$1" $#; NAMESPACE=$2; shift 2 ;;
    --container) need_value "$1" $#; CONTAINER=$2; shift 2 ;;
    --kind-cluster) need_value "$1" $#; KIND_CLUSTER=$2; shift 2 ;;
    --rollout-timeout) need_value "$1" $#; ROLLOUT_TIMEOUT=$2; shift 2 ;;
    --retries) need_value "$1" $#; RETRIES=$2; shift 2 ;;
    --interval) need_value "$1" $#; INTERVAL=$2; shift 2 ;;
    --timeout) need_value "$1" $#; TIMEOUT=$2; shift 2 ;;
    --step-timeout) need_value "$1" $#; STEP_TIMEOUT=$2; shift 2 ;;
    --docker) need_value "$1" $#; DOCKER_BIN=$2; shift 2 ;;
    --kubectl) need_value "$1" $#; KUBECTL_BIN=$2; shift 2 ;;
    --kind) need_value "$1" $#; KIND_BIN=$2; shift 2 ;;
    --) shift; for rest in "$@"; do VERSION=$rest; VERSION_COUNT=$((VERSION_COUNT + 1)); done; shift $# ;;
    -*) die_usage "unknown option $1" ;;
    *) VERSION=$1; VERSION_COUNT=$((VERSION_COUNT + 1)); shift ;;
  esac
done

# A positive whole number of at most 18 significant digits, printed in decimal; fails otherwise.
whole() {
  local value=$1 digits
  [[ $value =~ ^[0-9]+$ ]] || return 1
  digits=${value#"${value%%[!0]*}"}
  [[ -n $digits && ${#digits} -le 18 ]] || return 1
  echo "$digits"
}

# A positive decimal number (2, 0.5): digits with at most one dot, not all zeros.
positive_number() {
  local value=$1
  [[ $value =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] || return 1
  [[ $value =~ [1-9] ]] || return 1
}

((VERSION_COUNT == 1)) || die_usage "exactly one VERSION expected"
[[ $VERSION != *$'\n'* && $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION (an image tag)"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
PORT=$(whole "$PORT") || die_usage "bad --port"
((PORT >= 1 && PORT <= 65535)) || die_usage "bad --port"
RETRIES=$(whole "$RETRIES") || die_usage "bad --retries"
ROLLOUT_TIMEOUT=$(whole "$ROLLOUT_TIMEOUT") || die_usage "bad --rollout-timeout"
positive_number "$INTERVAL" || die_usage "bad --interval"
positive_number "$TIMEOUT" || die_usage "bad --timeout"
positive_number "$STEP_TIMEOUT" || die_usage "bad --step-timeout"
[[ -n $CONTAINER ]] || CONTAINER=$NAME

TAG="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

# --- bounded tool calls ---
docker_step() { timeout "$STEP_TIMEOUT" "$DOCKER_BIN" "$@"; }
kubectl_step() { timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
kind_step() { timeout "$STEP_TIMEOUT" "$KIND_BIN" "$@"; }
rollout_wait() {
  timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

undo() {
  log "deploy failed: $1; undoing"
  case "$MODE" in
    docker)
      docker_step rm --force "$NAME" >&2 || log "undo: docker rm --force $NAME failed"
      if [[ -n $PREVIOUS_IMAGE ]]; then
        docker_step run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
          ${LABELS[@]+"${LABELS[@]}"} "$PREVIOUS_IMAGE" >&2 || log "undo: could not start $PREVIOUS_IMAGE again"
      else
        log "undo: no previous version to bring back"
      fi
      ;;
    k8s)
      if kubectl_step rollout undo "deployment/$NAME" >&2; then
        rollout_wait || log "undo: the rollback did not finish"
      else
        log "undo: kubectl rollout undo failed"
        rollout_wait || log "undo: the rollback did not finish"
      fi
      ;;
  esac
  exit 1
}

docker_deploy() {
  PREVIOUS_IMAGE=$(docker_step inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS_IMAGE=""
  log "previous image: ${PREVIOUS_IMAGE:-none}"
  docker_step rm --force "$NAME" >&2 2>/dev/null || true
  local start deadline state
  start=$(now_us)
  deadline=$((start + (ROLLOUT_TIMEOUT > 1000000000 ? 1000000000 : ROLLOUT_TIMEOUT) * 1000000))
  docker_step run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
    ${LABELS[@]+"${LABELS[@]}"} "$TAG" >&2 || return 1
  while :; do
    state=$(docker_step inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || state=""
    case "$state" in
      running) return 0 ;;
      exited|dead) log "the new container is $state"; return 1 ;;
    esac
    if (($(now_us) >= deadline)); then
      log "the new container is not running after ${ROLLOUT_TIMEOUT}s"
      return 1
    fi
    sleep 0.2
  done
}

k8s_deploy() {
  kubectl_step set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
  rollout_wait || return 1
}

health_once() {
  case "$MODE" in
    docker) curl -fsS -o /dev/null --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" ;;
    k8s) kubectl_step get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
  esac
}

healthy() {
  local attempt=1
  while :; do
    if health_once; then
      log "healthy after $attempt check(s)"
      return 0
    fi
    ((attempt < RETRIES)) || return 1
    attempt=$((attempt + 1))
    sleep "$INTERVAL"
  done
}

log "building $TAG"
docker_step build --tag "$TAG" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_step run --rm ${LABELS[@]+"${LABELS[@]}"} "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }

if [[ $MODE == k8s && -n $KIND_CLUSTER ]]; then
  kind_step load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed: nothing deployed"; exit 1; }
fi

case "$MODE" in
  docker) docker_deploy || undo "the new container did not start" ;;
  k8s) k8s_deploy || undo "the rollout did not finish" ;;
esac
healthy || undo "the health check failed $RETRIES time(s)"
log "deployed $TAG"
