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
shopt -s extglob

print_usage() { grep '^#   \|^# usage:' "$0" | cut -c3-; }
bad() { echo "error: $*" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date '+%H:%M:%S')] $*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
positional=()

while (($#)); do
  arg=$1
  shift
  case $arg in
    -h | --help) print_usage; exit 0 ;;
    --build-arg | --label)
      (($#)) || bad "$arg needs a value"
      if [[ $arg == --label ]]; then labels+=("--label=$1"); else build_args+=("--build-arg=$1"); fi
      shift ;;
    --mode | --image | --context | --test-cmd | --name | --port | --namespace | --container | --kind-cluster | \
      --rollout-timeout | --retries | --interval | --timeout | --step-timeout | --docker | --kubectl | --kind)
      (($#)) || bad "$arg needs a value"
      opt[${arg#--}]=$1
      shift ;;
    -?*) bad "unknown option: $arg" ;;
    *) positional+=("$arg") ;;
  esac
done

((${#positional[@]} == 1)) || bad "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
tag_ok() {
  local v=$1
  ((${#v} >= 1 && ${#v} <= 128)) || return 1
  case $v in
    [A-Za-z0-9_]*([A-Za-z0-9_.-])) return 0 ;;
    *) return 1 ;;
  esac
}
int_ok() { case $1 in +([0-9])) [[ $1 == *[1-9]* ]] ;; *) return 1 ;; esac; }
num_ok() {
  case $1 in
    +([0-9]) | +([0-9]).+([0-9]) | .+([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}
tag_ok "$version" || bad "VERSION is not a valid image tag: $version"
case ${opt[mode]} in docker | k8s) ;; *) bad "--mode is docker or k8s" ;; esac
port_ok() { int_ok "$1" && ((${#1} <= 5)) && ((10#$1 <= 65535)); }
port_ok "${opt[port]}" || bad "--port is 1-65535"
for key in retries rollout-timeout; do int_ok "${opt[$key]}" || bad "--$key is a positive integer"; done
for key in retries rollout-timeout; do digits=${opt[$key]##+(0)}; ((${#digits} <= 18)) || bad "--$key: at most 18 digits (else a 64-bit wrap)"; done
for key in port retries rollout-timeout; do opt[$key]=$((10#${opt[$key]})); done  # decimal: a leading zero is not octal
for key in interval timeout step-timeout; do num_ok "${opt[$key]}" || bad "--$key is a positive number"; done

image_ref=${opt[image]}:$version
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
publish=127.0.0.1:${opt[port]}:8000
previous_id=

run_bounded() { timeout -k 5 "${opt[step-timeout]}" "$@"; }
dk() { run_bounded "${opt[docker]}" "$@"; }
kc() { run_bounded "${opt[kubectl]}" "$@"; }
wait_rollout() {
  local limit=${opt[rollout-timeout]}
  timeout -k 5 $((limit + 15)) "${opt[kubectl]}" rollout status "deployment/$name" -n "$ns" "--timeout=${limit}s"
}

start_container() {  # $1: image reference or ID
  dk container run -d --name "$name" -p "$publish" "${labels[@]}" "$1"
}

fail() {
  say "FAILED: $*"
  if [[ ${opt[mode]} == k8s ]]; then
    kc rollout undo "deployment/$name" -n "$ns" || say "rollout undo failed"
    wait_rollout || say "the undo rollout did not complete"
  else
    dk container rm -f "$name" || say "could not remove $name"
    if [[ -n $previous_id ]]; then
      say "restarting the previous image $previous_id"
      start_container "$previous_id" || say "could not restart the previous image"
    fi
  fi
  exit 1
}

probe_health() {
  if [[ ${opt[mode]} == k8s ]]; then
    timeout -k 2 "${opt[step-timeout]}" "${opt[kubectl]}" get -n "$ns" \
      "--raw=/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health"
  else
    curl -fsS -m "${opt[timeout]}" "http://127.0.0.1:${opt[port]}/health"
  fi
}

wait_healthy() {
  local attempt=0 retries=${opt[retries]}
  until probe_health >/dev/null 2>&1; do
    attempt=$((attempt + 1))
    say "health check $attempt of ${opt[retries]} failed"
    ((attempt < retries)) || return 1
    sleep "${opt[interval]}"
  done
}

wait_running() {
  local started=$EPOCHSECONDS running
  while true; do
    running=$(dk inspect -f '{{.State.Running}}' "$name") || running=false
    [[ $running == true ]] && return 0
    state=$(dk inspect -f '{{.State.Status}}' "$name") || state=unknown
    case $state in exited | dead | missing) say "container is $state"; return 1 ;; esac
    ((EPOCHSECONDS - started < ${opt[rollout-timeout]})) || return 1
    sleep 1
  done
}

deploy_docker() {
  previous_id=$(dk inspect -f '{{.Image}}' "$name" 2>/dev/null) || previous_id=
  dk container rm -f "$name" >/dev/null 2>&1 || true
  start_container "$image_ref" || return 1
  wait_running
}

deploy_k8s() {
  if [[ -n ${opt[kind-cluster]} ]]; then
    run_bounded "${opt[kind]}" load docker-image "$image_ref" --name "${opt[kind-cluster]}" || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kc set image "deployment/$name" "$container=$image_ref" -n "$ns" || return 1
  wait_rollout
}

say "build $image_ref"
dk build "${build_args[@]}" -t "$image_ref" "${opt[context]}" >&2 || exit 1
say "test $image_ref"
dk run --rm "${labels[@]}" "$image_ref" sh -c "${opt[test-cmd]}" >&2 || exit 1

say "deploy $image_ref (${opt[mode]})"
case ${opt[mode]} in
  docker) deploy_docker >&2 || fail "deploy of $image_ref" ;;
  k8s) deploy_k8s >&2 || fail "rollout of $image_ref" ;;
esac
wait_healthy || fail "$image_ref is not healthy"
say "done: $image_ref is healthy"
