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

set -o errexit -o nounset -o pipefail

print_usage() {
    awk '/^# usage:/ {on = 1} on && !/^#/ {exit} on {sub(/^# ?/, ""); print}' "$0"
}

bad() {
    echo "error: $*" >&2
    print_usage >&2
    exit 2
}

say() {
    echo "[$(date '+%F %T')] $*" >&2
}

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
positional=()

for word in "$@"; do
    [[ $word == -h || $word == --help ]] && { print_usage; exit 0; }
done

while [[ $# -gt 0 ]]; do
    word=$1
    shift
    case $word in
        --*=*) key=${word%%=*}; key=${key#--}; value=${word#*=} ;;
        --*) key=${word#--}
             [[ $# -gt 0 ]] || bad "--$key needs a value"
             value=$1; shift ;;
        *) positional+=("$word"); continue ;;
    esac
    case $key in
        build-arg) build_args+=("--build-arg=$value") ;;
        label) labels+=("--label=$value") ;;
        mode|image|context|test-cmd|name|port|namespace|container|kind-cluster|rollout-timeout|retries|interval|timeout|step-timeout|docker|kubectl|kind)
            opt[$key]=$value ;;
        *) bad "unknown option --$key" ;;
    esac
done

[[ ${#positional[@]} -eq 1 ]] || bad "expected one VERSION, got ${#positional[@]}"
version=${positional[0]}
if [[ ! $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || [[ ${#version} -gt 128 ]] || [[ $version == *$'\n'* ]]; then
    bad "VERSION '$version' is not a valid image tag"
fi
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || bad "--mode is docker or k8s"

for key in port retries rollout-timeout; do
    value=${opt[$key]}
    [[ $value =~ ^0*([1-9][0-9]{0,8})$ ]] || bad "--$key must be a positive whole number"
    opt[$key]=${BASH_REMATCH[1]}
done
((opt[port] <= 65535)) || bad "--port must be 1-65535"
for key in interval timeout step-timeout; do
    value=${opt[$key]}
    [[ $value =~ ^([0-9]+|[0-9]*\.[0-9]+)$ && $value =~ [1-9] ]] || bad "--$key must be a positive number"
done

ref="${opt[image]}:$version"
name=${opt[name]}
ns=${opt[namespace]}
port=${opt[port]}
container=${opt[container]:-$name}
deadline_wait=$((opt[rollout-timeout]))
previous=""
state=start

docker_() { timeout "${opt[step-timeout]}" "${opt[docker]}" "$@"; }
kubectl_() { timeout "${opt[step-timeout]}" "${opt[kubectl]}" -n "$ns" "$@"; }
kind_() { timeout "${opt[step-timeout]}" "${opt[kind]}" "$@"; }
rollout_status() {
    timeout "$((deadline_wait + 15))" "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" --timeout "${deadline_wait}s"
}
run_detached() {
    docker_ run -d "${labels[@]}" --name "$name" -p "127.0.0.1:$port:8000" "$1"
}

roll_back() {
    say "rolling back ($state)"
    if [[ ${opt[mode]} == docker ]]; then
        docker_ rm -f "$name" || say "docker rm failed, going on"
        if [[ -n $previous ]]; then
            run_detached "$previous" || say "could not bring $previous back"
        fi
    else
        kubectl_ rollout undo "deployment/$name" || say "rollout undo failed"
        rollout_status || say "the rollback did not finish in ${deadline_wait}s"
    fi
}

on_exit() {
    local code=$?
    ((code != 0)) || return 0
    if [[ $state == deployed ]]; then
        state="$state, failed"
        roll_back >&2
    fi
    exit 1
}
trap on_exit EXIT

say "build $ref"
docker_ build "${build_args[@]}" --tag "$ref" "${opt[context]}" >&2
say "test $ref"
docker_ run --rm "${labels[@]}" "$ref" sh -c "${opt[test-cmd]}" >&2

check_health() {
    if [[ ${opt[mode]} == docker ]]; then
        curl -sf --max-time "${opt[timeout]}" -o /dev/null "http://127.0.0.1:$port/health"
    else
        kubectl_ get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null
    fi
}

if [[ ${opt[mode]} == docker ]]; then
    previous=$(docker_ container inspect --format '{{.Image}}' "$name" 2>/dev/null) || previous=""
    docker_ rm -f "$name" >/dev/null 2>&1 || true
    state=deployed
    run_detached "$ref" >&2
    started=$SECONDS
    while true; do
        status=$(docker_ container inspect --format='{{.State.Status}}' "$name") || status=unknown
        case $status in
            running) break ;;
            exited | dead | gone) say "container $status"; exit 1 ;;
        esac
        ((SECONDS - started < deadline_wait)) || { say "not running after ${deadline_wait}s"; exit 1; }
        sleep 0.25
    done
else
    if [[ -n ${opt[kind-cluster]} ]]; then
        kind_ load docker-image "$ref" --name "${opt[kind-cluster]}" >&2
    fi
    state=deployed
    kubectl_ set image "deployment/$name" "$container=$ref" >&2
    rollout_status >&2
fi

for ((n = 1; ; n++)); do
    if check_health; then
        say "$ref is healthy"
        state=finished
        exit 0
    fi
    ((n < opt[retries])) || { say "unhealthy after $n checks"; exit 1; }
    sleep "${opt[interval]}"
done
