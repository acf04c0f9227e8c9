#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy, wait, check health, undo on failure (answer A).
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
    sed -n '4,25p' "$0" | sed 's/^# \{0,1\}//'
}

die_usage() {
    echo "pipeline.sh: $1" >&2
    usage >&2
    exit 2
}

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) pipeline: $*" >&2; }

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
POSITIONAL=0

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
        --) shift; while (($# > 0)); do VERSION="$1"; POSITIONAL=$((POSITIONAL + 1)); shift; done ;;
        -*) die_usage "unknown option $1" ;;
        *) VERSION="$1"; POSITIONAL=$((POSITIONAL + 1)); shift ;;
    esac
done

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
is_pos_int() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_pos_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]; }

((POSITIONAL == 1)) || die_usage "exactly one VERSION is needed"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "VERSION '$VERSION' is not a valid image tag"
[[ $MODE == docker || $MODE == k8s ]] || die_usage "--mode must be docker or k8s"
if ! [[ "$PORT" =~ ^0*[0-9]{1,5}$ ]] || ! is_pos_int "$PORT" || ((10#$PORT > 65535)); then die_usage "--port must be 1-65535"; fi
is_pos_int "$RETRIES" || die_usage "--retries must be a positive integer"
is_pos_int "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be a positive integer"
is_pos_num "$INTERVAL" || die_usage "--interval must be a positive number"
is_pos_num "$TIMEOUT" || die_usage "--timeout must be a positive number"
is_pos_num "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER="${CONTAINER:-$NAME}"
TAG="$IMAGE:$VERSION"
PREVIOUS=""

docker_cmd() { timeout "$STEP_TIMEOUT" "$DOCKER_BIN" "$@"; }
kubectl_cmd() { timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
kind_cmd() { timeout "$STEP_TIMEOUT" "$KIND_BIN" "$@"; }
rollout_wait() {
    timeout $((ROLLOUT_TIMEOUT + 30)) "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status \
        "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

docker_undo() {
    docker_cmd rm --force "$NAME" >&2 || log "could not remove $NAME"
    if [[ -n $PREVIOUS ]]; then
        log "bringing back $PREVIOUS"
        docker_cmd run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" >&2 ||
            log "could not bring back $PREVIOUS"
    fi
}

k8s_undo() {
    if ! kubectl_cmd rollout undo "deployment/$NAME" >&2; then
        log "kubectl rollout undo failed"
        return 1
    fi
    rollout_wait || log "the undo did not finish"
}

undo() {
    log "FAILED: $1; undoing the deploy"
    case "$MODE" in
        docker) docker_undo ;;
        k8s) k8s_undo ;;
    esac
    exit 1
}

docker_deploy() {
    PREVIOUS="$(docker_cmd inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS=""
    docker_cmd rm --force "$NAME" >&2 2>/dev/null || true
    docker_cmd run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" >&2 || return 1
    local started=${EPOCHREALTIME/./} status
    while :; do
        status="$(docker_cmd inspect --format '{{.State.Status}}' "$NAME")" || status=""
        [[ $status == running ]] && return 0
        [[ $status == exited || $status == dead ]] && return 1
        sleep "$INTERVAL"
        (((${EPOCHREALTIME/./} - started) / 1000000 < ROLLOUT_TIMEOUT)) || return 1
    done
}

docker_healthy() {
    curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null
}

k8s_deploy() {
    if [[ -n $KIND_CLUSTER ]]; then
        kind_cmd load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
    fi
    kubectl_cmd set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
    rollout_wait || return 1
}

k8s_healthy() {
    kubectl_cmd get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null
}

healthy() {
    local attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        case "$MODE" in
            docker) docker_healthy && return 0 ;;
            k8s) k8s_healthy && return 0 ;;
        esac
        log "health check $attempt/$RETRIES failed"
        ((attempt < RETRIES)) && sleep "$INTERVAL"
    done
    return 1
}

log "building $TAG"
docker_cmd build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_cmd run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed; nothing deployed"; exit 1; }
log "deploying $TAG ($MODE)"
case "$MODE" in
    docker) docker_deploy || undo "deploy of $TAG" ;;
    k8s) k8s_deploy || undo "rollout of $TAG" ;;
esac
healthy || undo "health of $TAG"
log "$TAG is deployed and healthy"
