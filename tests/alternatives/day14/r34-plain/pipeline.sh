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
LABEL_ARGS=()
PREVIOUS_IMAGE=""
VERSION=""
HAVE_VERSION=0

# -h anywhere among the options wins
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
    esac
done

need_value() {
    (($# >= 2)) || die_usage "$1 needs a value"
}

while (($# > 0)); do
    case "$1" in
        --mode) need_value "$@"; MODE="$2"; shift 2 ;;
        --image) need_value "$@"; IMAGE="$2"; shift 2 ;;
        --context) need_value "$@"; CONTEXT="$2"; shift 2 ;;
        --build-arg) need_value "$@"; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
        --test-cmd) need_value "$@"; TEST_CMD="$2"; shift 2 ;;
        --name) need_value "$@"; NAME="$2"; shift 2 ;;
        --port) need_value "$@"; PORT="$2"; shift 2 ;;
        --label) need_value "$@"; LABEL_ARGS+=(--label "$2"); shift 2 ;;
        --namespace) need_value "$@"; NAMESPACE="$2"; shift 2 ;;
        --container) need_value "$@"; CONTAINER="$2"; shift 2 ;;
        --kind-cluster) need_value "$@"; KIND_CLUSTER="$2"; shift 2 ;;
        --rollout-timeout) need_value "$@"; ROLLOUT_TIMEOUT="$2"; shift 2 ;;
        --retries) need_value "$@"; RETRIES="$2"; shift 2 ;;
        --interval) need_value "$@"; INTERVAL="$2"; shift 2 ;;
        --timeout) need_value "$@"; TIMEOUT="$2"; shift 2 ;;
        --step-timeout) need_value "$@"; STEP_TIMEOUT="$2"; shift 2 ;;
        --docker) need_value "$@"; DOCKER_BIN="$2"; shift 2 ;;
        --kubectl) need_value "$@"; KUBECTL_BIN="$2"; shift 2 ;;
        --kind) need_value "$@"; KIND_BIN="$2"; shift 2 ;;
        --) shift; break ;;
        -*) die_usage "unknown option $1" ;;
        *)
            ((HAVE_VERSION == 0)) || die_usage "more than one VERSION"
            VERSION="$1"; HAVE_VERSION=1; shift ;;
    esac
done
while (($# > 0)); do
    ((HAVE_VERSION == 0)) || die_usage "more than one VERSION"
    VERSION="$1"; HAVE_VERSION=1; shift
done

((HAVE_VERSION == 1)) || die_usage "VERSION is required"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "invalid VERSION (an image tag)"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac

whole() {  # whole NAME VALUE: a positive decimal integer of at most 18 significant digits
    local value="$2"
    [[ "$value" =~ ^[0-9]+$ ]] || die_usage "$1 must be a positive whole number"
    local stripped; stripped="$(printf '%s' "$value" | sed 's/^0*//')"
    [[ -n "$stripped" ]] || die_usage "$1 must be positive"
    ((${#stripped} <= 18)) || die_usage "$1 is too large"
}
number() {  # a positive decimal number
    [[ "$2" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] || die_usage "$1 must be a positive number"
    [[ "$2" =~ [1-9] ]] || die_usage "$1 must be positive"
}
whole --port "$PORT"
PORT=$((10#$PORT))
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
whole --retries "$RETRIES"; RETRIES=$((10#$RETRIES))
whole --rollout-timeout "$ROLLOUT_TIMEOUT"; ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
number --interval "$INTERVAL"
number --timeout "$TIMEOUT"
number --step-timeout "$STEP_TIMEOUT"
CONTAINER="${CONTAINER:-$NAME}"

TAG="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

step() { timeout "$STEP_TIMEOUT" "$@"; }
dk() { step "$DOCKER_BIN" "$@"; }
kc() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }

undo_docker() {
    dk rm --force "$NAME" >&2 || log "docker rm $NAME failed"
    if [[ -n "$PREVIOUS_IMAGE" ]]; then
        log "running the previous image $PREVIOUS_IMAGE again"
        dk run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$PREVIOUS_IMAGE" >&2 \
            || { log "could not bring $PREVIOUS_IMAGE back"; return 1; }
    else
        log "no previous image: nothing to bring back"
    fi
}

undo_k8s() {
    timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout undo "deployment/$NAME" >&2 || return 1
    timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
        "--timeout=${ROLLOUT_TIMEOUT}s" >&2 || return 1
}

undo() {
    log "FAILED: $*; undoing the deploy"
    local ok=0
    case "$MODE" in
        docker) undo_docker || ok=1 ;;
        k8s) undo_k8s || ok=1 ;;
    esac
    if ((ok != 0)); then log "the undo failed too: a human has to look"; fi
    exit 1
}

docker_deploy() {
    PREVIOUS_IMAGE="$(dk inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS_IMAGE=""
    log "previous image: ${PREVIOUS_IMAGE:-none}"
    dk rm --force "$NAME" >&2 || true
    dk run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$TAG" >&2 || return 1
    local start now status
    start="$(date +%s%N)"
    while :; do
        status="$(dk inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" || status=""
        case "$status" in
            running) return 0 ;;
            exited|dead) log "container $NAME $status"; return 1 ;;
        esac
        now="$(date +%s%N)"
        if (((now - start) / 1000000000 >= ROLLOUT_TIMEOUT)); then  # no * 1000: 18 digits would wrap
            log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"
            return 1
        fi
        sleep 0.2
    done
}

k8s_deploy() {
    kc set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
    timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
        "--timeout=${ROLLOUT_TIMEOUT}s" >&2 || return 1
}

health_once() {
    case "$MODE" in
        docker) curl --silent --fail --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
        k8s) kc get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
    esac
}

healthy() {
    local attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        if health_once; then
            log "healthy after $attempt check(s)"
            return 0
        fi
        log "health check $attempt/$RETRIES failed"
        if ((attempt < RETRIES)); then sleep "$INTERVAL"; fi
    done
    return 1
}

log "building $TAG"
dk build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
dk run --rm "${LABEL_ARGS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed: nothing deployed"; exit 1; }

if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
    step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed: nothing changed"; exit 1; }
fi

case "$MODE" in
    docker) docker_deploy || undo "deploy of $TAG" ;;
    k8s) k8s_deploy || undo "rollout of $TAG" ;;
esac
healthy || undo "health of $TAG"
log "$TAG deployed and healthy"
