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

bad_usage() {
    echo "pipeline.sh: $*" >&2
    usage >&2
    exit 2
}

log() {
    printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

mode=docker
image=ml-model
context=.
build_args=()
test_cmd="python -m pytest -q"
name=ml-model
port=8000
labels=()
namespace=default
container=""
kind_cluster=""
rollout_timeout=120
retries=10
interval=1
health_timeout=5
step_timeout=600
docker_bin="${DOCKER:-docker}"
kubectl_bin="${KUBECTL:-kubectl}"
kind_bin="${KIND:-kind}"
positional=()

while (($# > 0)); do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | \
            --container | --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | \
            --step-timeout | --docker | --kubectl | --kind)
            (($# >= 2)) || bad_usage "$1 needs a value"
            case "$1" in
                --mode) mode=$2 ;;
                --image) image=$2 ;;
                --context) context=$2 ;;
                --build-arg) build_args+=(--build-arg "$2") ;;
                --test-cmd) test_cmd=$2 ;;
                --name) name=$2 ;;
                --port) port=$2 ;;
                --label) labels+=(--label "$2") ;;
                --namespace) namespace=$2 ;;
                --container) container=$2 ;;
                --kind-cluster) kind_cluster=$2 ;;
                --rollout-timeout) rollout_timeout=$2 ;;
                --retries) retries=$2 ;;
                --interval) interval=$2 ;;
                --timeout) health_timeout=$2 ;;
                --step-timeout) step_timeout=$2 ;;
                --docker) docker_bin=$2 ;;
                --kubectl) kubectl_bin=$2 ;;
                --kind) kind_bin=$2 ;;
            esac
            shift 2
            ;;
        --)
            shift
            positional+=("$@")
            break
            ;;
        -*) bad_usage "unknown option $1" ;;
        *)
            positional+=("$1")
            shift
            ;;
    esac
done

((${#positional[@]} == 1)) || bad_usage "expected exactly one VERSION"
version=${positional[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "invalid version tag: $version"
[[ $mode == docker || $mode == k8s ]] || bad_usage "--mode must be docker or k8s"

shopt -s extglob
# A whole positive decimal number (leading zeros allowed, never octal), echoed without them.
whole() {
    local value=$1 stripped
    [[ $value =~ ^[0-9]+$ ]] || return 1
    stripped=${value##+(0)}
    [[ -n $stripped && ${#stripped} -le 18 ]] || return 1
    echo "$stripped"
}
port=$(whole "$port") || bad_usage "--port must be 1-65535"
((port <= 65535)) || bad_usage "--port must be 1-65535"
retries=$(whole "$retries") || bad_usage "--retries must be a positive integer"
rollout_timeout=$(whole "$rollout_timeout") || bad_usage "--rollout-timeout must be a positive integer"

positive_number() {
    [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ && $1 =~ [1-9] ]]
}
positive_number "$interval" || bad_usage "--interval must be a positive number"
positive_number "$health_timeout" || bad_usage "--timeout must be a positive number"
positive_number "$step_timeout" || bad_usage "--step-timeout must be a positive number"
container=${container:-$name}
ref="$image:$version"
wait_limit=$((rollout_timeout + 30))

step() {
    timeout "$step_timeout" "$@"
}

now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

previous_image=""

docker_undo() {
    step "$docker_bin" rm --force "$name" >&2 || log "could not remove container $name"
    if [[ -n $previous_image ]]; then
        log "starting the previous image $previous_image again"
        step "$docker_bin" run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${labels[@]}" \
            "$previous_image" >&2 || log "could not start $previous_image again"
    fi
}

k8s_undo() {
    step "$kubectl_bin" --namespace "$namespace" rollout undo "deployment/$name" >&2 || log "rollout undo failed"
    timeout "$wait_limit" "$kubectl_bin" --namespace "$namespace" rollout status "deployment/$name" \
        "--timeout=${rollout_timeout}s" >&2 || log "the undo's rollout did not finish"
}

undo() {
    log "FAILED: $*; undoing the deploy"
    case "$mode" in
        docker) docker_undo ;;
        k8s) k8s_undo ;;
    esac
    exit 1
}

docker_deploy() {
    previous_image=$(step "$docker_bin" inspect --format '{{.Config.Image}}' "$name" 2>/dev/null) || previous_image=""
    log "previous image: ${previous_image:-none}"
    step "$docker_bin" rm --force "$name" >/dev/null 2>&1 || true
    step "$docker_bin" run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$ref" >&2 ||
        return 1
}

docker_wait() {
    local started status
    started=$(now_ms)
    while true; do
        status=$(step "$docker_bin" inspect --format '{{.State.Status}}' "$name" 2>/dev/null) || status=""
        case "$status" in
            running) return 0 ;;
            exited | dead) log "container $name $status"; return 1 ;;
        esac
        ((($(now_ms) - started) / 1000 < rollout_timeout)) || { log "container $name not running after ${rollout_timeout}s"; return 1; }
        sleep 0.2
    done
}

docker_health() {
    curl --fail --silent --show-error --max-time "$health_timeout" "http://127.0.0.1:$port/health" >/dev/null
}

k8s_deploy() {
    step "$kubectl_bin" --namespace "$namespace" set image "deployment/$name" "$container=$ref" >&2 || return 1
}

k8s_wait() {
    timeout "$wait_limit" "$kubectl_bin" --namespace "$namespace" rollout status "deployment/$name" \
        "--timeout=${rollout_timeout}s" >&2
}

k8s_health() {
    step "$kubectl_bin" --namespace "$namespace" get --raw \
        "/api/v1/namespaces/$namespace/services/$name:$port/proxy/health" >/dev/null
}

healthy() {
    local attempt
    for ((attempt = 1; attempt <= retries; attempt++)); do
        case "$mode" in
            docker) docker_health && return 0 ;;
            k8s) k8s_health && return 0 ;;
        esac
        log "health check $attempt/$retries failed"
        ((attempt < retries)) && sleep "$interval"
    done
    return 1
}

log "building $ref"
step "$docker_bin" build --tag "$ref" "${build_args[@]}" "$context" >&2 || { log "build failed"; exit 1; }
log "testing $ref"
step "$docker_bin" run --rm "${labels[@]}" "$ref" sh -c "$test_cmd" >&2 || { log "tests failed in $ref"; exit 1; }

case "$mode" in
    docker)
        docker_deploy || undo "the new container did not start"
        docker_wait || undo "the new container is not running"
        ;;
    k8s)
        if [[ -n $kind_cluster ]]; then
            step "$kind_bin" load docker-image "$ref" --name "$kind_cluster" >&2 || { log "kind load failed"; exit 1; }
        fi
        k8s_deploy || undo "set image failed"
        k8s_wait || undo "the rollout did not finish"
        ;;
esac
healthy || undo "the health check failed"
log "$ref deployed and healthy"
