#!/usr/bin/env bash
# pipeline.sh — build, test in the image, deploy, wait, check health; roll back on failure.
# Exit: 0 healthy, 1 a step failed (deploy rolled back), 2 usage error.
set -Eeuo pipefail

USAGE='usage: pipeline.sh [options] VERSION
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V (repeatable)
  --test-cmd CMD  --name NAME  --port PORT  --label K=V (repeatable)
  --namespace NS  --container NAME  --kind-cluster NAME
  --rollout-timeout S  --retries N  --interval S  --timeout S  --step-timeout S
  --docker PATH  --kubectl PATH  --kind PATH  -h, --help'

say() { printf '[%(%F %T)T] %s\n' -1 "$*" >&2; }
usage_error() { printf 'pipeline.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }
fail() { say "error: $*"; exit 1; }

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
BUILD_ARGS=()
LABEL_ARGS=()
ARGS=()

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        printf '%s\n' "$USAGE"
        exit 0
    fi
done

while (($#)); do
    key=${1#--}
    case $1 in
        --build-arg | --label)
            [[ $# -ge 2 ]] || usage_error "$1 needs a value"
            if [[ $1 == --build-arg ]]; then BUILD_ARGS+=("--build-arg=$2"); else LABEL_ARGS+=("--label=$2"); fi
            shift 2 ;;
        --*)
            [[ -v "opt[$key]" ]] || usage_error "unknown option $1"
            [[ $# -ge 2 ]] || usage_error "$1 needs a value"
            opt[$key]=$2
            shift 2 ;;
        -*) usage_error "unknown option $1" ;;
        *) ARGS+=("$1"); shift ;;
    esac
done

[[ ${#ARGS[@]} -eq 1 ]] || usage_error "give exactly one VERSION"
VERSION=${ARGS[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $VERSION =~ $tag_re ]] || usage_error "bad VERSION"
case ${opt[mode]} in docker | k8s) ;; *) usage_error "bad --mode" ;; esac

# Positive whole numbers, read as decimal: strip leading zeros first.
for key in port retries rollout-timeout; do
    [[ ${opt[$key]} =~ ^0*([1-9][0-9]{0,17})$ ]] || usage_error "--$key must be a positive whole number"
    opt[$key]=$((10#${BASH_REMATCH[1]}))
done
((opt[port] <= 65535)) || usage_error "--port must be at most 65535"
for key in interval timeout step-timeout; do
    [[ ${opt[$key]} =~ ^[0-9]*\.?[0-9]*$ && ${opt[$key]} =~ [1-9] ]] || usage_error "--$key must be a positive number"
done

MODE=${opt[mode]} NAME=${opt[name]} PORT=${opt[port]} NS=${opt[namespace]}
REF="${opt[image]}:$VERSION"
CONTAINER=${opt[container]:-$NAME}
RT=${opt[rollout-timeout]}
DOCKER_CMD=${opt[docker]} KUBECTL_CMD=${opt[kubectl]} KIND_CMD=${opt[kind]}
PREVIOUS=
DEPLOYED=0

bounded() { timeout "${opt[step-timeout]}" "$@"; }
kube() { bounded "$KUBECTL_CMD" -n "$NS" "$@"; }
rollout_wait() { timeout "$((RT + 60))" "$KUBECTL_CMD" -n "$NS" rollout status "deployment/$NAME" --timeout "${RT}s" >&2; }
micros() { echo "${EPOCHREALTIME/./}"; }

serve() {  # serve IMAGE: start the serving container
    bounded "$DOCKER_CMD" run -d --name "$NAME" -p "127.0.0.1:$PORT:8000" "${LABEL_ARGS[@]}" "$1" >&2
}

rollback() {
    say "rolling back"
    if [[ $MODE == k8s ]]; then
        kube rollout undo "deployment/$NAME" >&2 || say "rollout undo failed"
        rollout_wait || say "the rollback did not finish"
    else
        bounded "$DOCKER_CMD" rm -f "$NAME" >&2 || say "docker rm failed"
        if [[ -n $PREVIOUS ]]; then serve "$PREVIOUS" || say "could not restart $PREVIOUS"; fi
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT
    if ((rc != 0 && DEPLOYED)); then
        rollback
        exit 1
    fi
    exit "$rc"
}
trap on_exit EXIT

check_health() {
    if [[ $MODE == k8s ]]; then
        kube get "--raw=/api/v1/namespaces/$NS/services/$NAME:$PORT/proxy/health" >/dev/null
    else
        curl -fsS -o /dev/null --max-time "${opt[timeout]}" "http://127.0.0.1:$PORT/health"
    fi
}

say "build $REF"
bounded "$DOCKER_CMD" build "${BUILD_ARGS[@]}" -t "$REF" "${opt[context]}" >&2 || fail "build"
say "test $REF"
bounded "$DOCKER_CMD" run --rm "${LABEL_ARGS[@]}" "$REF" sh -c "${opt[test-cmd]}" >&2 || fail "tests"

if [[ $MODE == docker ]]; then
    PREVIOUS=$(bounded "$DOCKER_CMD" inspect --format '{{.Image}}' "$NAME" 2>/dev/null) || PREVIOUS=
    DEPLOYED=1
    bounded "$DOCKER_CMD" rm -f "$NAME" >/dev/null 2>&1 || :
    serve "$REF" || fail "the new container did not start"
    started=$(micros)
    while state=$(bounded "$DOCKER_CMD" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || :) &&
        [[ $state != running ]]; do
        [[ $state == exited || $state == dead ]] && fail "container $NAME $state"
        ((($(micros) - started) / 1000000 < RT)) || fail "container $NAME not running after ${RT}s"
        sleep 0.25
    done
else
    if [[ -n ${opt[kind-cluster]} ]]; then
        bounded "$KIND_CMD" load docker-image "$REF" --name "${opt[kind-cluster]}" >&2 || fail "kind load"
    fi
    DEPLOYED=1
    kube set image "deployment/$NAME" "$CONTAINER=$REF" >&2 || fail "set image"
    rollout_wait || fail "rollout"
fi

tries=0
until check_health; do
    tries=$((tries + 1))
    ((tries < opt[retries])) || fail "unhealthy after $tries checks"
    sleep "${opt[interval]}"
done
DEPLOYED=0
say "$REF is deployed and healthy"
