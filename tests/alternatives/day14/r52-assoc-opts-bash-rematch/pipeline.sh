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
export LC_ALL=C

print_usage() {
    grep '^#   \|^# usage:' "$0" | cut -c3-
}

usage_error() {
    {
        printf 'error: %s\n' "$1"
        print_usage
    } >&2
    exit 2
}

say() { echo "[$(date '+%H:%M:%S')] $*" >&2; }

# -h/--help anywhere among the options wins over every other word, valid or not.
for word in "$@"; do
    case "$word" in
        -h | --help) print_usage; exit 0 ;;
    esac
done

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
label_args=()
version=""
versions=0

while (($#)); do
    key="${1#--}"
    case "$1" in
        --build-arg | --label | --mode | --image | --context | --test-cmd | --name | --port | --namespace | --container | \
            --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | \
            --kubectl | --kind)
            (($# >= 2)) || usage_error "$1 needs a value"
            case "$key" in
                build-arg) build_args+=("--build-arg=$2") ;;
                label) label_args+=("--label=$2") ;;
                *) opt[$key]="$2" ;;
            esac
            shift 2
            ;;
        -*) usage_error "unknown option $1" ;;
        *)
            version="$1"
            versions=$((versions + 1))
            shift
            ;;
    esac
done

((versions == 1)) || usage_error "give exactly one VERSION"
[[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "VERSION must be an image tag: $version"
[[ "${opt[mode]}" == docker || "${opt[mode]}" == k8s ]] || usage_error "--mode is docker or k8s"

# Whole numbers: decimal, leading zeros dropped, at most 18 significant digits, above zero.
for key in port retries rollout-timeout; do
    value="${opt[$key]}"
    [[ "$value" =~ ^0*([1-9][0-9]{0,17})$ ]] || usage_error "--$key must be a positive whole number"
    opt[$key]="${BASH_REMATCH[1]}"
done
((opt[port] <= 65535)) || usage_error "--port must be 1-65535"
for key in interval timeout step-timeout; do
    value="${opt[$key]}"
    [[ "$value" =~ ^[0-9]*\.?[0-9]*$ && "$value" =~ [1-9] ]] || usage_error "--$key must be a positive number"
done

docker_bin="${opt[docker]}"
kubectl_bin="${opt[kubectl]}"
kind_bin="${opt[kind]}"
name="${opt[name]}"
port="${opt[port]}"
ns="${opt[namespace]}"
rollout_s="${opt[rollout-timeout]}"
retries="${opt[retries]}"
step_s="${opt[step-timeout]}"
image_ref="${opt[image]}:$version"
container="${opt[container]:-$name}"
previous=""

bounded() { timeout "$step_s" "$@"; }
dk() { bounded "$docker_bin" "$@"; }
kc() { bounded "$kubectl_bin" --namespace="$ns" "$@"; }
wait_rollout() {
    timeout "$((rollout_s + 15))" "$kubectl_bin" --namespace="$ns" rollout status "deployment/$name" \
        --timeout="${rollout_s}s" >&2
}

nanos() { date +%s%N; }

start_container() {
    dk run -d --name "$name" -p "127.0.0.1:$port:8000" "${label_args[@]}" "$1" >&2
}

deploy_docker() {
    if previous="$(dk inspect --format '{{.Image}}' "$name" 2>/dev/null)"; then
        say "$name currently runs $previous"
    else
        previous=""
    fi
    dk rm -f "$name" >/dev/null 2>&1 || true
    local t0 state
    t0="$(nanos)"
    start_container "$image_ref" || return 1
    until (((($(nanos) - t0) / 1000000000) >= rollout_s)); do
        state="$(dk inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true)"
        if [[ "$state" == running ]]; then
            return 0
        elif [[ "$state" == exited || "$state" == dead ]]; then
            say "new container $state"
            return 1
        fi
        sleep "${opt[interval]}"
    done
    say "new container not running after ${rollout_s}s"
    return 1
}

deploy_k8s() {
    kc set image "deployment/$name" "$container=$image_ref" >&2 || return 1
    wait_rollout
}

check_health() {
    if [[ "${opt[mode]}" == k8s ]]; then
        timeout "${opt[timeout]}" "$kubectl_bin" --namespace="$ns" get --raw \
            "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null 2>&1
    else
        curl -fs -o /dev/null -m "${opt[timeout]}" "http://127.0.0.1:$port/health"
    fi
}

roll_back() {
    say "rolling back: $1"
    local ok=true
    if [[ "${opt[mode]}" == k8s ]]; then
        { kc rollout undo "deployment/$name" >&2 && wait_rollout; } || ok=false
    else
        dk rm -f "$name" >&2 || say "docker rm -f $name failed, going on"
        if [[ -n "$previous" ]]; then
            start_container "$previous" || ok=false
        fi
    fi
    if [[ "$ok" == true ]]; then
        say "rollback finished"
    else
        say "rollback failed: check $name by hand"
    fi
    exit 1
}

dk build --tag "$image_ref" "${build_args[@]}" "${opt[context]}" >&2 || { say "build failed"; exit 1; }
dk run --rm "${label_args[@]}" "$image_ref" sh -c "${opt[test-cmd]}" >&2 || { say "tests failed"; exit 1; }
if [[ "${opt[mode]}" == k8s && -n "${opt[kind-cluster]}" ]]; then
    bounded "$kind_bin" load docker-image "$image_ref" --name "${opt[kind-cluster]}" >&2 || { say "kind load failed"; exit 1; }
fi

case "${opt[mode]}" in
    docker) deploy_docker ;;
    k8s) deploy_k8s ;;
esac || roll_back "deploy of $image_ref failed"

n=0
until check_health; do
    n=$((n + 1))
    say "health check $n of $retries failed"
    ((n < retries)) || roll_back "$image_ref is unhealthy"
    sleep "${opt[interval]}"
done
say "$image_ref is live"
