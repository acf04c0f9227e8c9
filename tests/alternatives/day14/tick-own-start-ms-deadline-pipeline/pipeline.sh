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

usage() {
    sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$0"
}

die_usage() {
    printf 'pipeline.sh: %s\n' "$1" >&2
    usage >&2
    exit 2
}

log() {
    printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

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
VERSIONS=()

for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
    esac
done

need_value() {
    (($2 >= 2)) || die_usage "$1 needs a value"
}

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
        --) shift; VERSIONS+=("$@"); break ;;
        -*) die_usage "unknown option $1" ;;
        *) VERSIONS+=("$1"); shift ;;
    esac
done

((${#VERSIONS[@]} == 1)) || die_usage "exactly one VERSION is needed"
VERSION=${VERSIONS[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $VERSION != *$'\n'* && $VERSION =~ $tag_re ]] || die_usage "VERSION must be a valid image tag"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac

whole() {  # whole NAME VALUE MAX: a positive decimal integer up to MAX
    [[ $2 =~ ^[0-9]+$ ]] || die_usage "$1 must be a whole number"
    local digits=${2#"${2%%[!0]*}"}
    ((${#digits} >= 1 && ${#digits} <= 18)) || die_usage "$1 out of range"
    ((10#$digits >= 1 && 10#$digits <= $3)) || die_usage "$1 out of range"
}
positive() {  # positive NAME VALUE: a decimal number above zero
    [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ && $2 =~ [1-9] ]] || die_usage "$1 must be a positive number"
}
whole --port "$PORT" 65535
whole --retries "$RETRIES" 999999999999999999
whole --rollout-timeout "$ROLLOUT_TIMEOUT" 999999999999999999
positive --interval "$INTERVAL"
positive --timeout "$TIMEOUT"
positive --step-timeout "$STEP_TIMEOUT"
PORT=$((10#$PORT))
RETRIES=$((10#$RETRIES))
ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
REF="$IMAGE:$VERSION"
PREVIOUS=""

step() {
    timeout "$STEP_TIMEOUT" "$@"
}

build_and_test() {
    log "building $REF from $CONTEXT"
    step "$DOCKER_BIN" build --tag "$REF" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || return 1
    log "testing $REF: $TEST_CMD"
    step "$DOCKER_BIN" run --rm "${LABELS[@]}" "$REF" sh -c "$TEST_CMD" >&2 || return 1
}

start_container() {
    step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$1" >&2
}

docker_deploy() {
    PREVIOUS=$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=""
    log "previous image: ${PREVIOUS:-none}"
    step "$DOCKER_BIN" rm --force "$NAME" >/dev/null 2>&1 || true
    start_container "$REF" || return 1
}

now_ms() {
    date +%s%3N
}

docker_wait() {
    local started status
    started=$(now_ms)
    while true; do
        status=$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || status=""
        case "$status" in
            running) return 0 ;;
            exited|dead) log "container $NAME $status"; return 1 ;;
        esac
        ((($(now_ms) - started) / 1000 < ROLLOUT_TIMEOUT)) || { log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"; return 1; }
        sleep 0.2
    done
}

docker_health() {
    curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null
}

k8s_deploy() {
    if [[ -n $KIND_CLUSTER ]]; then
        log "loading $REF into kind cluster $KIND_CLUSTER"
        step "$KIND_BIN" load docker-image "$REF" --name "$KIND_CLUSTER" >&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
    fi
    step "$KUBECTL_BIN" --namespace "$NAMESPACE" set image "deployment/$NAME" "$CONTAINER=$REF" >&2 || return 1
}

k8s_wait() {
    timeout $((ROLLOUT_TIMEOUT + 30)) "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
        "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

k8s_health() {
    timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get \
        --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null
}

healthy() {
    local attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        case "$MODE" in
            docker) docker_health && return 0 ;;
            k8s) k8s_health && return 0 ;;
        esac
        log "health check $attempt/$RETRIES failed"
        ((attempt < RETRIES)) && sleep "$INTERVAL"
    done
    return 1
}

undo() {
    log "undoing the deploy: $1"
    case "$MODE" in
        docker)
            step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "could not remove $NAME"
            if [[ -n $PREVIOUS ]]; then
                start_container "$PREVIOUS" || log "could not start $PREVIOUS again"
            fi
            ;;
        k8s)
            step "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout undo "deployment/$NAME" >&2 || log "rollout undo failed"
            k8s_wait || log "the undone rollout did not finish"
            ;;
    esac
    exit 1
}

build_and_test || { log "build or tests failed: nothing deployed"; exit 1; }
case "$MODE" in
    docker) docker_deploy || undo "the new container did not start"
            docker_wait || undo "the new container is not running" ;;
    k8s) k8s_deploy || undo "set image failed"
         k8s_wait || undo "the rollout did not finish" ;;
esac
healthy || undo "the health check failed"
log "$REF deployed and healthy"
