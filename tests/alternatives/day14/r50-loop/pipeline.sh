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
    sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die_usage() {
    printf 'pipeline.sh: %s\n' "$1" >&2
    usage >&2
    exit 2
}

log() {
    printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# Settings: never read from the environment (only the tool binaries are).
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
VERSION_ARG=""
VERSION_COUNT=0

need_value() {
    (($2 >= 2)) || die_usage "$1 needs a value"
}

while (($# > 0)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --*=*)
            opt="${1%%=*}"
            val="${1#*=}"
            shift
            set -- "$opt" "$val" "$@"
            continue
            ;;
        --mode) need_value "$1" $#; MODE="$2"; shift 2 ;;
        --image) need_value "$1" $#; IMAGE="$2"; shift 2 ;;
        --context) need_value "$1" $#; CONTEXT="$2"; shift 2 ;;
        --build-arg) need_value "$1" $#; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
        --test-cmd) need_value "$1" $#; TEST_CMD="$2"; shift 2 ;;
        --name) need_value "$1" $#; NAME="$2"; shift 2 ;;
        --port) need_value "$1" $#; PORT="$2"; shift 2 ;;
        --label) need_value "$1" $#; LABEL_ARGS+=(--label "$2"); shift 2 ;;
        --namespace) need_value "$1" $#; NAMESPACE="$2"; shift 2 ;;
        --container) need_value "$1" $#; CONTAINER="$2"; shift 2 ;;
        --kind-cluster) need_value "$1" $#; KIND_CLUSTER="$2"; shift 2 ;;
        --rollout-timeout) need_value "$1" $#; ROLLOUT_TIMEOUT="$2"; shift 2 ;;
        --retries) need_value "$1" $#; RETRIES="$2"; shift 2 ;;
        --interval) need_value "$1" $#; INTERVAL="$2"; shift 2 ;;
        --timeout) need_value "$1" $#; TIMEOUT="$2"; shift 2 ;;
        --step-timeout) need_value "$1" $#; STEP_TIMEOUT="$2"; shift 2 ;;
        --docker) need_value "$1" $#; DOCKER_BIN="$2"; shift 2 ;;
        --kubectl) need_value "$1" $#; KUBECTL_BIN="$2"; shift 2 ;;
        --kind) need_value "$1" $#; KIND_BIN="$2"; shift 2 ;;
        --)
            shift
            for arg in "$@"; do
                VERSION_ARG="$arg"
                VERSION_COUNT=$((VERSION_COUNT + 1))
            done
            break
            ;;
        -*) die_usage "unknown option: $1" ;;
        *) VERSION_ARG="$1"; VERSION_COUNT=$((VERSION_COUNT + 1)); shift ;;
    esac
done

# A whole positive decimal number of at most 18 significant digits, printed normalised.
positive_int() {
    local value="$1" digits
    [[ "$value" =~ ^[0-9]+$ ]] || return 1
    digits="${value#"${value%%[!0]*}"}"
    [[ -n "$digits" ]] || return 1
    ((${#digits} <= 18)) || return 1
    printf '%s\n' "$((10#$digits))"
}

positive_number() {
    local value="$1"
    [[ "$value" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] || return 1
    [[ "$value" =~ [1-9] ]] || return 1
}

((VERSION_COUNT == 1)) || die_usage "exactly one VERSION is needed"
VERSION="$VERSION_ARG"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
case "$MODE" in
    docker | k8s) ;;
    *) die_usage "--mode must be docker or k8s" ;;
esac
PORT="$(positive_int "$PORT")" || die_usage "--port must be 1-65535"
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES="$(positive_int "$RETRIES")" || die_usage "--retries must be a positive integer"
ROLLOUT_TIMEOUT="$(positive_int "$ROLLOUT_TIMEOUT")" || die_usage "--rollout-timeout must be a positive integer"
positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
CONTAINER="${CONTAINER:-$NAME}"
NEW_IMAGE="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

step() {
    timeout "$STEP_TIMEOUT" "$@"
}

kube() {
    step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"
}

kube_rollout_status() {
    timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
        --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

# Microseconds since the epoch (the clock the rollout deadline is measured on).
now_us() {
    local t="$EPOCHREALTIME"
    printf '%s\n' "${t//[!0-9]/}"
}

# True once more than ROLLOUT_TIMEOUT seconds passed since $1 (microseconds).
past_deadline() {
    local elapsed=$(($(now_us) - $1))
    local whole=$((elapsed / 1000000)) frac=$((elapsed % 1000000))
    ((whole > ROLLOUT_TIMEOUT || (whole == ROLLOUT_TIMEOUT && frac > 0)))
}

run_detached() {
    step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
        "${LABEL_ARGS[@]}" "$1" >&2
}

undo() {
    log "deploy of $NEW_IMAGE failed: $1; undoing"
    case "$MODE" in
        docker)
            step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "could not remove container $NAME"
            if [[ -n "$PREVIOUS_IMAGE" ]]; then
                if run_detached "$PREVIOUS_IMAGE"; then
                    log "undo done: $PREVIOUS_IMAGE runs again as $NAME"
                else
                    log "UNDO FAILED: could not run $PREVIOUS_IMAGE again"
                fi
            else
                log "undo done: no previous container to bring back"
            fi
            ;;
        k8s)
            if kube rollout undo "deployment/$NAME" >&2 && kube_rollout_status; then
                log "undo done: deployment/$NAME rolled back"
            else
                log "UNDO FAILED: deployment/$NAME could not be rolled back"
            fi
            ;;
    esac
    exit 1
}

docker_deploy() {
    local image
    if image="$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)"; then
        PREVIOUS_IMAGE="$image"
    fi
    log "previous image: ${PREVIOUS_IMAGE:-none}"
    step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "could not remove the old container $NAME"
    local started
    started="$(now_us)"
    run_detached "$NEW_IMAGE" || return 1
    local status checked_at
    while true; do
        checked_at="$(now_us)"
        status="$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" || status=""
        case "$status" in
            running)
                local elapsed=$((checked_at - started))
                if ((elapsed / 1000000 > ROLLOUT_TIMEOUT || (elapsed / 1000000 == ROLLOUT_TIMEOUT && elapsed % 1000000 > 0))); then
                    log "container $NAME runs only after the rollout timeout"
                    return 1
                fi
                return 0
                ;;
            exited | dead)
                log "container $NAME is $status"
                return 1
                ;;
        esac
        if past_deadline "$started"; then
            log "container $NAME not running within ${ROLLOUT_TIMEOUT}s"
            return 1
        fi
        sleep "$INTERVAL"
    done
}

k8s_deploy() {
    kube set image "deployment/$NAME" "$CONTAINER=$NEW_IMAGE" >&2 || return 1
    kube_rollout_status || return 1
}

health_once() {
    case "$MODE" in
        docker) curl --fail --silent --show-error --max-time "$TIMEOUT" \
            "http://127.0.0.1:$PORT/health" >/dev/null ;;
        k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
            "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
    esac
}

healthy() {
    local i
    for ((i = 1; i <= RETRIES; i++)); do
        if health_once; then
            log "health check $i passed"
            return 0
        fi
        log "health check $i of $RETRIES failed"
        if ((i < RETRIES)); then
            sleep "$INTERVAL"
        fi
    done
    return 1
}

log "building $NEW_IMAGE"
step "$DOCKER_BIN" build --tag "$NEW_IMAGE" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $NEW_IMAGE"
step "$DOCKER_BIN" run --rm "${LABEL_ARGS[@]}" "$NEW_IMAGE" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }

if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
    step "$KIND_BIN" load docker-image "$NEW_IMAGE" --name "$KIND_CLUSTER" >&2 \
        || { log "kind load failed; nothing deployed"; exit 1; }
fi

case "$MODE" in
    docker) docker_deploy || undo "the new container did not start" ;;
    k8s) k8s_deploy || undo "the rollout did not finish" ;;
esac
healthy || undo "the health check failed"
log "$NEW_IMAGE deployed and healthy"
