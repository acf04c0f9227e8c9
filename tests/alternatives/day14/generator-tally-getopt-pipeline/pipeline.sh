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
set -euo pipefail

print_usage() { sed -n 's/^# \{0,1\}//; /^usage:/,/--help/p' "$0"; }
usage_error() { printf 'pipeline.sh: %s\n' "$*" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()

longopts="help,build-arg:,label:"
for key in "${!opt[@]}"; do longopts+=",$key:"; done
parsed="$(getopt --name pipeline.sh --options h --longoptions "$longopts" -- "$@" 2>&1)" || usage_error "${parsed%%$'\n'*}"
eval set -- "$parsed"
while true; do
  case "$1" in
    -h|--help) print_usage; exit 0 ;;
    --build-arg) build_args+=("--build-arg=$2"); shift 2 ;;
    --label) labels+=("--label=$2"); shift 2 ;;
    --) shift; break ;;
    --*) opt[${1#--}]="$2"; shift 2 ;;
  esac
done
(($# == 1)) || usage_error "expected one VERSION, got $#"
version="$1"

positive_int() { case "$1" in '' | *[!0-9]*) return 1 ;; *) [[ "$1" == *[1-9]* ]] ;; esac; }
positive_number() {
  case "$1" in '' | . | *[!0-9.]* | *.*.*) return 1 ;; *) [[ "$1" == *[1-9]* ]] ;; esac
}
LC_ALL=C
[[ ${#version} -le 128 && "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || usage_error "bad VERSION (not an image tag)"
[[ "${opt[mode]}" == docker || "${opt[mode]}" == k8s ]] || usage_error "--mode is docker or k8s"
{ positive_int "${opt[port]}" && [[ ${#opt[port]} -le 5 ]] && ((10#${opt[port]} <= 65535)); } || usage_error "bad --port"
for key in retries rollout-timeout; do positive_int "${opt[$key]}" || usage_error "--$key: a positive integer"; done
for key in retries rollout-timeout; do [[ ${opt[$key]} =~ ^0*[0-9]{1,18}$ ]] || usage_error "--$key: at most 18 digits"; done  # else 64-bit wrap
for key in port retries rollout-timeout; do opt[$key]=$((10#${opt[$key]})); done  # decimal: a leading zero is not octal
for key in interval timeout step-timeout; do positive_number "${opt[$key]}" || usage_error "--$key: a positive number"; done

image="${opt[image]}:$version"
name="${opt[name]}"
ns="${opt[namespace]}"
previous_id=""

bounded() { timeout "${opt[step-timeout]}" "$@"; }
dk() { bounded "${opt[docker]}" "$@"; }
kc() { bounded "${opt[kubectl]}" "--namespace=$ns" "$@"; }
wait_rollout() {
  timeout "$((opt[rollout-timeout] + 15))" "${opt[kubectl]}" "--namespace=$ns" rollout status \
    "deployment/$name" "--timeout=${opt[rollout-timeout]}s" >&2
}

undo_docker() {
  dk rm --force "$name" >&2 || say "removing $name failed"
  [[ -z "$previous_id" ]] && return 0
  dk run --detach "--name=$name" "--publish=127.0.0.1:${opt[port]}:8000" "${labels[@]}" "$previous_id" >&2
}
undo_k8s() {
  kc rollout undo "deployment/$name" >&2 && wait_rollout
}
rollback() {
  say "FAILED: $1 - rolling back"
  case "${opt[mode]}" in
    docker) undo_docker ;;
    k8s) undo_k8s ;;
  esac || say "the rollback itself failed: someone must look"
  exit 1
}

deploy_docker() {
  previous_id="$(dk inspect --format='{{.Image}}' "$name" 2>/dev/null)" || previous_id=""
  dk rm --force "$name" >/dev/null 2>&1 || true
  dk run --detach "--name=$name" "--publish=127.0.0.1:${opt[port]}:8000" "${labels[@]}" "$image" >&2 || return 1
  local start now running
  start="$(date +%s%N)"
  while :; do
    running="$(dk inspect --format='{{.State.Running}}' "$name" 2>/dev/null)" || running=false
    [[ "$running" == true ]] && return 0
    [[ "$(dk inspect --format='{{.State.Status}}' "$name" 2>/dev/null)" =~ ^(exited|dead)$ ]] && return 1
    now="$(date +%s%N)"
    (((now - start) / 1000000000 < opt[rollout-timeout])) || return 1
    sleep 1
  done
}
deploy_k8s() {
  kc set image "deployment/$name" "${opt[container]:-$name}=$image" >&2 || return 1
  wait_rollout
}
probe_health() {
  if [[ "${opt[mode]}" == docker ]]; then
    curl --silent --fail --max-time "${opt[timeout]}" "http://127.0.0.1:${opt[port]}/health" >/dev/null
  else
    timeout "${opt[timeout]}" "${opt[kubectl]}" "--namespace=$ns" get \
      "--raw=/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health" >/dev/null
  fi
}

say "build $image"
dk build "--tag=$image" "${build_args[@]}" "${opt[context]}" >&2 || { say "build failed"; exit 1; }
say "test $image"
dk run --rm "${labels[@]}" "$image" sh -c "${opt[test-cmd]}" >&2 || { say "tests failed"; exit 1; }

if [[ "${opt[mode]}" == k8s && -n "${opt[kind-cluster]}" ]]; then
  say "load $image into kind cluster ${opt[kind-cluster]}"
  bounded "${opt[kind]}" load docker-image "$image" --name "${opt[kind-cluster]}" >&2 || { say "kind load failed"; exit 1; }
fi
say "deploy $image (${opt[mode]})"
case "${opt[mode]}" in
  docker) deploy_docker ;;
  k8s) deploy_k8s ;;
esac || rollback "deploy or rollout"

attempt=1
until probe_health; do
  ((attempt < opt[retries])) || rollback "health failed ${opt[retries]} times"
  say "health check $attempt failed"
  attempt=$((attempt + 1))
  sleep "${opt[interval]}"
done
say "$image is healthy"
