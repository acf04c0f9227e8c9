#!/usr/bin/env bash
# Deployment pipeline (answer B: --opt=value parsing, arrays, image IDs for undo).
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -Eeuo pipefail
shopt -s extglob

print_usage() {
    cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s   --image NAME   --context DIR   --build-arg K=V (repeatable)
  --test-cmd CMD      --name NAME    --port PORT     --label K=V (repeatable)
  --namespace NS      --container NAME               --kind-cluster NAME
  --rollout-timeout S --retries N    --interval S    --timeout S   --step-timeout S
  --docker PATH       --kubectl PATH --kind PATH     -h, --help
USAGE
}

bad() { printf 'error: %s\n' "$*" >&2; print_usage >&2; exit 2; }
say() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

declare -A opt=(
    [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
    [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
    [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
versions=()

while (($#)); do
    arg=$1
    shift
    case $arg in
        -h|--help) print_usage; exit 0 ;;
        --*=*) key=${arg%%=*}; key=${key#--}; val=${arg#*=} ;;
        --*) key=${arg#--}; (($#)) || bad "--$key needs a value"; val=$1; shift ;;
        -*) bad "unknown option $arg" ;;
        *) versions+=("$arg"); continue ;;
    esac
    case $key in
        build-arg) build_args+=("--build-arg=$val") ;;
        label) labels+=("--label=$val") ;;
        mode|image|context|test-cmd|name|port|namespace|container|kind-cluster|rollout-timeout|retries|interval|timeout|step-timeout|docker|kubectl|kind)
            opt[$key]=$val ;;
        *) bad "unknown option --$key" ;;
    esac
done

# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
positive_integer() { local digits=${2##+(0)}; [[ $2 == +([0-9]) && $2 == *[1-9]* && ${#digits} -le 18 ]] || bad "--$1 must be a positive integer, not '$2'"; }
positive_number() { [[ $2 == +([0-9])?(.+([0-9])) && $2 == *[1-9]* ]] || bad "--$1 must be a positive number, not '$2'"; }

((${#versions[@]} == 1)) || bad "give exactly one VERSION"
version=${versions[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad "'$version' is not a valid image tag"
case ${opt[mode]} in docker|k8s) ;; *) bad "--mode is docker or k8s" ;; esac
positive_integer port "${opt[port]}"
[[ ${opt[port]} =~ ^0*[0-9]{1,5}$ ]] || bad "--port must be at most 65535"
((10#${opt[port]} <= 65535)) || bad "--port must be at most 65535"
positive_integer retries "${opt[retries]}"
positive_integer rollout-timeout "${opt[rollout-timeout]}"
for key in port retries rollout-timeout; do opt[$key]=$((10#${opt[$key]})); done  # decimal: a leading zero is not octal
for key in interval timeout step-timeout; do positive_number "$key" "${opt[$key]}"; done

image="${opt[image]}:$version"
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
previous=""

run_step() { timeout -- "${opt[step-timeout]}" "$@"; }
dk() { run_step "${opt[docker]}" "$@"; }
kc() { run_step "${opt[kubectl]}" -n "$ns" "$@"; }
wait_rollout() {
    timeout -- "$((opt[rollout-timeout] + 15))" "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" \
        --timeout "${opt[rollout-timeout]}s" 1>&2
}
start_container() {
    dk container run --detach --name "$name" "--publish=127.0.0.1:${opt[port]}:8000" "${labels[@]}" "$1" >/dev/null
}

deploy_docker() {
    previous=$(dk container inspect --format '{{.Image}}' "$name" 2>/dev/null) || previous=""
    [[ -n $previous ]] && say "container $name runs image $previous"
    dk container rm --force "$name" >/dev/null 2>&1 || true
    start_container "$image" || return 1
    local started=${EPOCHREALTIME/./} running
    until running=$(dk container inspect --format '{{.State.Running}}' "$name") && [[ $running == true ]]; do
        [[ $(dk container inspect --format '{{.State.Status}}' "$name" 2>/dev/null) =~ ^(exited|dead)$ ]] && return 1
        sleep "${opt[interval]}"
        (((${EPOCHREALTIME/./} - started) / 1000000 < opt[rollout-timeout])) || return 1
    done
}

deploy_k8s() {
    if [[ -n ${opt[kind-cluster]} ]]; then
        run_step "${opt[kind]}" load docker-image "$image" "--name=${opt[kind-cluster]}" 1>&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
    fi
    kc set image "deployment/$name" "$container=$image" 1>&2 || return 1
    wait_rollout || return 1
}

probe_health() {
    if [[ ${opt[mode]} == docker ]]; then
        curl -fsS -m "${opt[timeout]}" -o /dev/null "http://127.0.0.1:${opt[port]}/health"
    else
        kc get --raw "/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health" >/dev/null
    fi
}

roll_back() {
    say "rolling back: $*"
    if [[ ${opt[mode]} == docker ]]; then
        dk container rm --force "$name" >/dev/null || say "could not remove $name"
        if [[ -n $previous ]]; then
            start_container "$previous" || say "could not start the previous image $previous"
        fi
    else
        { kc rollout undo "deployment/$name" 1>&2 && wait_rollout; } || say "the rollback did not complete"
    fi
    exit 1
}

say "build $image"
dk build --tag "$image" "${build_args[@]}" -- "${opt[context]}" 1>&2 || exit 1
say "test $image"
dk run --rm "${labels[@]}" "$image" sh -c "${opt[test-cmd]}" 1>&2 || { say "tests failed in $image"; exit 1; }

case ${opt[mode]} in
    docker) deploy_docker || roll_back "container did not start" ;;
    k8s) deploy_k8s || roll_back "rollout did not finish" ;;
esac

left=${opt[retries]}
until probe_health; do
    ((--left > 0)) || roll_back "unhealthy after ${opt[retries]} checks"
    sleep "${opt[interval]}"
done
say "$image is live"
