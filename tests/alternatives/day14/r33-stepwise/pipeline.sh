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

set -o errexit -o nounset -o pipefail

print_usage() {
    awk '/^# usage:/{on=1} on && /^#/{sub(/^# ?/, ""); print} on && !/^#/{exit}' "$0"
}

bad() {
    printf 'error: %s\n\n' "$1" >&2
    print_usage >&2
    exit 2
}

say() { echo "[$(date '+%H:%M:%S')] pipeline: $*" >&2; }

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
declare -a build_opts=() label_opts=() positional=()
previous_ref=""

for word in "$@"; do
    if [[ $word == -h || $word == --help ]]; then
        print_usage
        exit 0
    fi
done

while (($#)); do
    key=$1
    case "$key" in
        --build-arg | --label)
            (($# > 1)) || bad "$key needs a value"
            if [[ $key == --label ]]; then label_opts+=("--label=$2"); else build_opts+=("--build-arg=$2"); fi
            shift 2
            ;;
        --mode | --image | --context | --test-cmd | --name | --port | --namespace | --container | --kind-cluster | \
        --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl | --kind)
            (($# > 1)) || bad "$key needs a value"
            opt[${key#--}]=$2
            shift 2
            ;;
        -*) bad "unknown option: $key" ;;
        *) positional+=("$1"); shift ;;
    esac
done

((${#positional[@]} == 1)) || bad "expected exactly one VERSION, got ${#positional[@]}"
tag=${positional[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $tag =~ $tag_re && $tag != *$'\n'* ]] || bad "not an image tag: $tag"
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || bad "--mode must be docker or k8s"

whole() {  # whole NAME MAX: a positive decimal integer up to MAX
    local value=${opt[$1]}
    [[ $value =~ ^[0-9]+$ ]] || bad "--$1 must be a whole number: $value"
    value=${value#"${value%%[!0]*}"}
    if [[ -z $value || ${#value} -gt 18 ]] || ((value > $2)); then
        bad "--$1 out of range: ${opt[$1]}"
    fi
    opt[$1]=$value
}
positive() {
    local value=${opt[$1]}
    [[ $value =~ ^[0-9]*\.?[0-9]*$ && $value =~ [0-9] ]] || bad "--$1 must be a number: $value"
    awk -v v="$value" 'BEGIN { exit !(v + 0 > 0) }' || bad "--$1 must be positive: $value"
}
whole port 65535
whole retries 999999999999999999
whole rollout-timeout 999999999999999999
positive interval
positive timeout
positive step-timeout
[[ -n ${opt[container]} ]] || opt[container]=${opt[name]}

ref="${opt[image]}:$tag"
name=${opt[name]}
ns=${opt[namespace]}
port=${opt[port]}

bounded() {  # bounded TOOL ARGS...: one tool command under --step-timeout
    local tool=$1
    shift
    timeout "${opt[step-timeout]}" "${opt[$tool]}" "$@"
}
wait_rollout() {
    timeout "$((opt[rollout-timeout] + 15))" "${opt[kubectl]}" rollout status "deployment/$name" \
        -n "$ns" --timeout="${opt[rollout-timeout]}s"
}
now_ms() { date +%s%3N; }

start_container() {  # start_container IMAGE
    bounded docker run -d "${label_opts[@]}" --name "$name" -p "127.0.0.1:$port:8000" "$1"
}

docker_deploy() {
    bounded docker rm -f "$name" >&2 || return 1
    local started state
    started=$(now_ms)
    start_container "$ref" >&2 || return 1
    until state=$(bounded docker inspect -f '{{.State.Status}}' "$name") && [[ $state == running ]]; do
        if [[ ${state:-} == exited || ${state:-} == dead ]]; then
            say "the new container is $state"
            return 1
        fi
        sleep "${opt[interval]}"
        if ((($(now_ms) - started) / 1000 >= opt[rollout-timeout])); then
            say "the new container is not running after ${opt[rollout-timeout]} s"
            return 1
        fi
        state=""
    done
}

k8s_deploy() {
    bounded kubectl set image "deployment/$name" "${opt[container]}=$ref" -n "$ns" >&2 || return 1
    wait_rollout >&2 || return 1
}

probe_docker() { curl -fsS -o /dev/null --max-time "${opt[timeout]}" "http://127.0.0.1:$port/health"; }
probe_k8s() { bounded kubectl get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" -n "$ns" >/dev/null; }

healthy() {
    local left=${opt[retries]}
    while :; do
        case "${opt[mode]}" in
            docker) probe_docker && return 0 ;;
            k8s) probe_k8s && return 0 ;;
        esac
        left=$((left - 1))
        say "health check failed, $left left"
        ((left > 0)) || return 1
        sleep "${opt[interval]}"
    done
}

roll_back() {
    say "rolling back: $1"
    if [[ ${opt[mode]} == docker ]]; then
        bounded docker rm -f "$name" >&2 || say "could not remove $name"
        if [[ -n $previous_ref ]]; then
            start_container "$previous_ref" >&2 || say "could not bring $previous_ref back"
        fi
    else
        { bounded kubectl rollout undo "deployment/$name" -n "$ns" >&2 && wait_rollout >&2; } || say "the rollback failed"
    fi
    exit 1
}

say "build $ref"
bounded docker build -t "$ref" "${build_opts[@]}" "${opt[context]}" >&2 || exit 1
say "test $ref"
bounded docker run --rm "${label_opts[@]}" "$ref" sh -c "${opt[test-cmd]}" >&2 || exit 1

if [[ ${opt[mode]} == docker ]]; then
    if found=$(bounded docker inspect -f '{{.Image}}' "$name" 2>/dev/null); then
        previous_ref=$found
    fi
else
    if [[ -n ${opt[kind-cluster]} ]]; then
        bounded kind load docker-image "$ref" --name "${opt[kind-cluster]}" >&2 || exit 1
    fi
fi

case "${opt[mode]}" in
    docker) docker_deploy || roll_back "deploy failed" ;;
    k8s) k8s_deploy || roll_back "rollout failed" ;;
esac
healthy || roll_back "unhealthy"
say "$ref is deployed and healthy"
