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
set -euo pipefail

usage() {
    sed -n 's/^# \{0,1\}//; /^usage:/,/^-h, --help/p' "$0"
}

die_usage() {
    echo "pipeline.sh: $*" >&2
    usage >&2
    exit 2
}

log() {
    printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# --- settings: defaults from the usage, never from the environment (only the tool binaries are) ---
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
POSITIONAL=()
PREVIOUS_IMAGE=""
SHOW_HELP=0
BAD_OPTION=""

while (($# > 0)); do
    case "$1" in
        -h | --help) SHOW_HELP=1; shift ;;
        --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | \
            --container | --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | \
            --step-timeout | --docker | --kubectl | --kind)
            if (($# < 2)); then
                BAD_OPTION="$1 needs a value"
                shift
                continue
            fi
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
            shift 2
            ;;
        -*) die_usage "unknown option: $1" ;;
        *) POSITIONAL+=("$1"); shift ;;
    esac
done

if ((SHOW_HELP)); then
    usage
    exit 0
fi
[[ -z "$BAD_OPTION" ]] || die_usage "$BAD_OPTION"
((${#POSITIONAL[@]} == 1)) || die_usage "expected exactly one VERSION, got ${#POSITIONAL[@]}"
VERSION="${POSITIONAL[0]}"

TAG_FIRST='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'
is_tag() {
    local tag="$1"
    ((${#tag} >= 1 && ${#tag} <= 128)) || return 1
    [[ "$tag" != *[!"$TAG_FIRST".-]* ]] || return 1
    [[ "${tag:0:1}" == ["$TAG_FIRST"] ]]
}

# A positive whole number of at most 18 significant digits, printed in decimal (leading zeros dropped).
whole() {
    local value="$1" digits
    [[ "$value" =~ ^[0-9]+$ ]] || return 1
    digits="${value#"${value%%[!0]*}"}"
    ((${#digits} >= 1 && ${#digits} <= 18)) || return 1
    printf '%s' "$digits"
}

# A positive decimal number such as 2, 0.5 or 1.
positive_number() {
    [[ "$1" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] && [[ "$1" == *[1-9]* ]]
}

is_tag "$VERSION" || die_usage "invalid VERSION (an image tag): $VERSION"
case "$MODE" in
    docker | k8s) ;;
    *) die_usage "--mode must be docker or k8s, not $MODE" ;;
esac
PORT="$(whole "$PORT")" || die_usage "--port must be 1-65535"
((${#PORT} <= 5 && PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES="$(whole "$RETRIES")" || die_usage "--retries must be a positive whole number (at most 18 digits)"
ROLLOUT_TIMEOUT="$(whole "$ROLLOUT_TIMEOUT")" || die_usage "--rollout-timeout must be a positive whole number (at most 18 digits)"
positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
[[ -n "$CONTAINER" ]] || CONTAINER="$NAME"

REF="$IMAGE:$VERSION"
ROLLOUT_MARGIN=30

step() {
    timeout "$STEP_TIMEOUT" "$@"
}

now_us() {
    local t="${EPOCHREALTIME/[.,]/}"
    printf '%s' "$((10#$t))"
}

# --- docker mode ---

docker_deploy() {
    PREVIOUS_IMAGE="$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS_IMAGE=""
    if [[ -n "$PREVIOUS_IMAGE" ]]; then
        log "container $NAME runs $PREVIOUS_IMAGE; replacing it"
    fi
    # Also when the inspect failed or was cut off: a container may still hold the name.
    step "$DOCKER_BIN" rm --force "$NAME" >&2 2>/dev/null || log "no container $NAME removed"
    local started status
    started="$(now_us)"
    step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$REF" >&2 ||
        return 1
    while true; do
        if (((($(now_us) - started) / 1000000) >= ROLLOUT_TIMEOUT)); then
            log "container $NAME not running within $ROLLOUT_TIMEOUT s"
            return 1
        fi
        status="$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" || status=""
        case "$status" in
            running) log "container $NAME is running"; return 0 ;;
            exited | dead) log "container $NAME is $status"; return 1 ;;
        esac
        sleep 0.2
    done
}

docker_health() {
    curl --silent --show-error --fail --output /dev/null --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health"
}

docker_undo() {
    step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "warning: docker rm --force $NAME failed"
    if [[ -z "$PREVIOUS_IMAGE" ]]; then
        log "no previous container to bring back"
        return 0
    fi
    step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" \
        "$PREVIOUS_IMAGE" >&2
}

# --- k8s mode ---

rollout_wait() {
    timeout "$((ROLLOUT_TIMEOUT + ROLLOUT_MARGIN))" "$KUBECTL_BIN" --namespace "$NAMESPACE" \
        rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}

k8s_deploy() {
    step "$KUBECTL_BIN" --namespace "$NAMESPACE" set image "deployment/$NAME" "$CONTAINER=$REF" >&2 || return 1
    rollout_wait
}

k8s_health() {
    step "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
        "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null
}

k8s_undo() {
    step "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout undo "deployment/$NAME" >&2 || return 1
    rollout_wait
}

undo() {
    log "deploy failed: $*; undoing"
    local undone=0
    case "$MODE" in
        docker) docker_undo || undone=1 ;;
        k8s) k8s_undo || undone=1 ;;
    esac
    if ((undone)); then
        log "undo failed: the previous version could not be brought back; a person has to look"
    else
        log "undo finished"
    fi
    exit 1
}

healthy() {
    local attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        case "$MODE" in
            docker) docker_health && return 0 ;;
            k8s) k8s_health && return 0 ;;
        esac
        log "health check $attempt/$RETRIES failed"
        if ((attempt < RETRIES)); then
            sleep "$INTERVAL"
        fi
    done
    return 1
}

log "building $REF"
step "$DOCKER_BIN" build --tag "$REF" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $REF"
step "$DOCKER_BIN" run --rm "${LABEL_ARGS[@]}" "$REF" sh -c "$TEST_CMD" >&2 || { log "tests failed"; exit 1; }
if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
    step "$KIND_BIN" load docker-image "$REF" --name "$KIND_CLUSTER" >&2 || { log "kind load failed"; exit 1; }
fi

log "deploying $REF ($MODE)"
case "$MODE" in
    docker) docker_deploy ;;
    k8s) k8s_deploy ;;
esac || undo "the deploy or rollout of $REF did not finish"

healthy || undo "$REF failed its health checks"
log "$REF deployed and healthy"
