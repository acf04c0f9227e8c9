#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy, wait, health-check, undo on failure.
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
    sed -n '/^# usage:/,/^#   -h, --help/p' "$0" | sed 's/^# \{0,1\}//'
}

die_usage() {
    echo "pipeline.sh: $*" >&2
    usage >&2
    exit 2
}

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

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
PREVIOUS=""
VERSION_ARG=""
HAVE_VERSION=0

for arg in "$@"; do
    case "$arg" in -h|--help) usage; exit 0 ;; esac
done

need_value() {
    (($# >= 2)) || die_usage "$1 needs a value"
}

while (($# > 0)); do
    case "$1" in
        --mode) need_value "$@"; MODE=$2; shift 2 ;;
        --image) need_value "$@"; IMAGE=$2; shift 2 ;;
        --context) need_value "$@"; CONTEXT=$2; shift 2 ;;
        --build-arg) need_value "$@"; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
        --test-cmd) need_value "$@"; TEST_CMD=$2; shift 2 ;;
        --name) need_value "$@"; NAME=$2; shift 2 ;;
        --port) need_value "$@"; PORT=$2; shift 2 ;;
        --label) need_value "$@"; LABEL_ARGS+=(--label "$2"); shift 2 ;;
        --namespace) need_value "$@"; NAMESPACE=$2; shift 2 ;;
        --container) need_value "$@"; CONTAINER=$2; shift 2 ;;
        --kind-cluster) need_value "$@"; KIND_CLUSTER=$2; shift 2 ;;
        --rollout-timeout) need_value "$@"; ROLLOUT_TIMEOUT=$2; shift 2 ;;
        --retries) need_value "$@"; RETRIES=$2; shift 2 ;;
        --interval) need_value "$@"; INTERVAL=$2; shift 2 ;;
        --timeout) need_value "$@"; TIMEOUT=$2; shift 2 ;;
        --step-timeout) need_value "$@"; STEP_TIMEOUT=$2; shift 2 ;;
        --docker) need_value "$@"; DOCKER_BIN=$2; shift 2 ;;
        --kubectl) need_value "$@"; KUBECTL_BIN=$2; shift 2 ;;
        --kind) need_value "$@"; KIND_BIN=$2; shift 2 ;;
        --) shift; break ;;
        -*) die_usage "unknown option $1" ;;
        *)
            ((HAVE_VERSION == 0)) || die_usage "exactly one VERSION expected"
            VERSION_ARG=$1; HAVE_VERSION=1; shift ;;
    esac
done
while (($# > 0)); do
    ((HAVE_VERSION == 0)) || die_usage "exactly one VERSION expected"
    VERSION_ARG=$1; HAVE_VERSION=1; shift
done
((HAVE_VERSION == 1)) || die_usage "VERSION is missing"
VERSION=$VERSION_ARG

is_whole() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0)); }
is_number() { [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] && [[ $1 =~ [1-9] ]]; }

[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ && $VERSION != *$'\n'* ]] || die_usage "bad VERSION: $VERSION"
case "$MODE" in docker|k8s) ;; *) die_usage "bad --mode: $MODE" ;; esac
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
    die_usage "bad --port: $PORT"
fi
is_whole "$RETRIES" && [[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "bad --retries: $RETRIES"
is_whole "$ROLLOUT_TIMEOUT" && [[ $ROLLOUT_TIMEOUT =~ ^0*[0-9]{1,18}$ ]] || die_usage "bad --rollout-timeout: $ROLLOUT_TIMEOUT"
is_number "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_number "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"
is_number "$STEP_TIMEOUT" || die_usage "bad --step-timeout: $STEP_TIMEOUT"
PORT=$((10#$PORT))
RETRIES=$((10#$RETRIES))
ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"

step() { timeout "$STEP_TIMEOUT" "$@"; }
kube() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
    timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL_BIN" --namespace "$NAMESPACE" \
        rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s"
}

undo() {
    log "undo: $1"
    case "$MODE" in
        docker)
            step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "undo: docker rm failed"
            if [[ -n $PREVIOUS ]]; then
                step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
                    "${LABEL_ARGS[@]}" "$PREVIOUS" >&2 || log "undo: could not start $PREVIOUS again"
            else
                log "undo: no previous version to bring back"
            fi
            ;;
        k8s)
            if kube rollout undo "deployment/$NAME" >&2; then
                rollout_wait >&2 || log "undo: the undo's rollout did not finish"
            else
                log "undo: kubectl rollout undo failed"
            fi
            ;;
    esac
    exit 1
}

docker_healthy() {
    curl --fail --silent --show-error --output /dev/null --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health"
}

k8s_healthy() {
    step "$KUBECTL_BIN" get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null
}

check_health() {
    local attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        if "$1"; then
            log "health check $attempt passed"
            return 0
        fi
        log "health check $attempt of $RETRIES failed"
        if ((attempt < RETRIES)); then
            sleep "$INTERVAL"
        fi
    done
    return 1
}

docker_deploy() {
    step "$DOCKER_BIN" rm --force "$NAME" >&2 || return 1
    local status now started
    started=${EPOCHREALTIME/./}
    step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$TAG" >&2 || return 1
    while :; do
        status=$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || status=""
        case "$status" in
            running) return 0 ;;
            exited|dead) log "container $NAME $status"; return 1 ;;
        esac
        now=${EPOCHREALTIME/./}
        if (((now - started) / 1000000 >= ROLLOUT_TIMEOUT)); then
            log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"
            return 1
        fi
        sleep 0.2
    done
}

k8s_deploy() {
    kube set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
    rollout_wait >&2 || return 1
}

log "building $TAG"
step "$DOCKER_BIN" build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
step "$DOCKER_BIN" run --rm "${LABEL_ARGS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }

case "$MODE" in
    docker)
        PREVIOUS=$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=""
        log "previous image: ${PREVIOUS:-none}"
        docker_deploy || undo "the new container did not start"
        check_health docker_healthy || undo "health check failed"
        ;;
    k8s)
        if [[ -n $KIND_CLUSTER ]]; then
            step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed"; exit 1; }
        fi
        k8s_deploy || undo "rollout failed"
        check_health k8s_healthy || undo "health check failed"
        ;;
esac
log "deployed $TAG"
