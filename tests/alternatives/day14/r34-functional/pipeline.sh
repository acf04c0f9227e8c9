#!/usr/bin/env bash
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
shopt -s extglob

SELF="$0"
print_usage() { sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$SELF"; }
bad() { printf 'error: %s\n' "$1" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date '+%H:%M:%S')] $*" >&2; }

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
declare -a build_args=() labels=() positional=()

for word in "$@"; do
    [[ "$word" == -h || "$word" == --help ]] && { print_usage; exit 0; }
done

while (($#)); do
    word="$1"; shift
    case "$word" in
        --*=*) key="${word%%=*}"; key="${key#--}"; value="${word#*=}" ;;
        --*) key="${word#--}"; (($#)) || bad "--$key needs a value"; value="$1"; shift ;;
        -?*) bad "unknown option $word" ;;
        *) positional+=("$word"); continue ;;
    esac
    case "$key" in
        build-arg) build_args+=("--build-arg=$value") ;;
        label) labels+=("--label=$value") ;;
        *) [[ -v "opt[$key]" ]] || bad "unknown option --$key"; opt[$key]="$value" ;;
    esac
done

((${#positional[@]} == 1)) || bad "exactly one VERSION expected"
version="${positional[0]}"
[[ "$version" == [A-Za-z0-9_]*([A-Za-z0-9_.-]) && ${#version} -le 128 ]] || bad "VERSION must be an image tag"
[[ "${opt[mode]}" == @(docker|k8s) ]] || bad "--mode is docker or k8s"

positive_int() {
    local v="${opt[$1]}"
    [[ "$v" == +([0-9]) ]] || bad "--$1 must be a whole number"
    v="${v##+(0)}"
    [[ -n "$v" && ${#v} -le 18 ]] || bad "--$1 out of range"
    opt[$1]="$v"
}
positive_number() {
    local v="${opt[$1]}"
    [[ "$v" == @(+([0-9])?(.*([0-9]))|.+([0-9])) && "$v" == *[1-9]* ]] || bad "--$1 must be a positive number"
}
for key in port retries rollout-timeout; do positive_int "$key"; done
((opt[port] <= 65535)) || bad "--port is 1-65535"
for key in interval timeout step-timeout; do positive_number "$key"; done

image="${opt[image]}:$version"
name="${opt[name]}"
ns="${opt[namespace]}"
container="${opt[container]:-$name}"
rollout_s="${opt[rollout-timeout]}"
publish="127.0.0.1:${opt[port]}:8000"
previous=""
phase=prepare

bounded() { timeout "${opt[step-timeout]}" "$@" >&2; }
docker_() { bounded "${opt[docker]}" "$@"; }
kubectl_() { bounded "${opt[kubectl]}" -n "$ns" "$@"; }
wait_rollout() { timeout "$((rollout_s + 15))" "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" --timeout "${rollout_s}s" >&2; }

rollback() {
    case "${opt[mode]}" in
        docker)
            docker_ rm --force "$name" || say "could not remove $name"
            [[ -z "$previous" ]] && { say "no previous container to restore"; return 0; }
            docker_ run -d --name "$name" -p "$publish" "${labels[@]}" "$previous"
            ;;
        k8s) kubectl_ rollout undo "deployment/$name" && wait_rollout ;;
    esac
}

on_exit() {
    local code=$?
    trap - EXIT
    if [[ "$phase" == deployed && $code -ne 0 ]]; then
        say "deploy of $image failed; rolling back"
        rollback || say "rollback failed as well"
        exit 1
    fi
    exit "$code"
}
trap on_exit EXIT

now_ms() { date +%s%3N; }

container_started() {
    local started state
    started=$(now_ms)
    until state="$(timeout "${opt[step-timeout]}" "${opt[docker]}" inspect -f '{{.State.Status}}' "$name" 2>/dev/null)" \
        && [[ "$state" == running ]]; do
        [[ "${state:-}" == @(exited|dead) ]] && { say "$name is $state"; return 1; }
        ((($(now_ms) - started) / 1000 < rollout_s)) || { say "$name not running within ${rollout_s}s"; return 1; }
        sleep "$(awk -v i="${opt[interval]}" 'BEGIN { print (i < 0.1 ? 0.1 : (i > 1 ? 1 : i)) }')"
        state=""
    done
}

probe_health() {
    if [[ "${opt[mode]}" == docker ]]; then
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time "${opt[timeout]}" "http://127.0.0.1:${opt[port]}/health")" == 200 ]]
    else
        timeout "${opt[timeout]}" "${opt[kubectl]}" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health" >/dev/null
    fi
}

say "build $image"
docker_ build "${build_args[@]}" -t "$image" "${opt[context]}" || exit 1
say "test $image"
docker_ run --rm "${labels[@]}" "$image" sh -c "${opt[test-cmd]}" || exit 1

if [[ "${opt[mode]}" == k8s ]]; then
    if [[ -n "${opt[kind-cluster]}" ]]; then
        bounded "${opt[kind]}" load docker-image "$image" --name "${opt[kind-cluster]}" || exit 1
    fi
    phase=deployed
    kubectl_ set image "deployment/$name" "$container=$image"
    wait_rollout
else
    previous="$(timeout "${opt[step-timeout]}" "${opt[docker]}" inspect -f '{{.Image}}' "$name" 2>/dev/null)" || previous=""
    docker_ rm -f "$name" || true
    phase=deployed
    docker_ run -d --name "$name" -p "$publish" "${labels[@]}" "$image"
    container_started
fi

tries=0
until probe_health; do
    tries=$((tries + 1))
    say "health check $tries/${opt[retries]} failed"
    ((tries < opt[retries])) || exit 1
    sleep "${opt[interval]}"
done
phase=finished
say "$image is deployed and healthy"
