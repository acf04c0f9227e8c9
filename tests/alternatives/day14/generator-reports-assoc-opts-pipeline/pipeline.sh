#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy, wait, check health; undo a failed deploy.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -o errexit -o nounset -o pipefail

print_usage() {
  sed -n 's/^#: \{0,1\}//p' "${BASH_SOURCE[0]}"
}
#: usage: pipeline.sh [options] VERSION
#:   --mode docker|k8s      where to deploy (default docker)
#:   --image NAME           image repository; builds NAME:VERSION (default ml-model)
#:   --context DIR          docker build context (default .)
#:   --build-arg K=V        passed to docker build (repeatable)
#:   --test-cmd CMD         run with `sh -c` in the new image (default "python -m pytest -q")
#:   --name NAME            docker: the container; k8s: the Deployment and its Service (default ml-model)
#:   --port PORT            docker: host port on 127.0.0.1; k8s: the Service port (default 8000)
#:   --label K=V            docker: put on every container the pipeline starts (repeatable)
#:   --namespace NS         k8s: the namespace (default default)
#:   --container NAME       k8s: the container to update (default: --name)
#:   --kind-cluster NAME    k8s: load the image into this kind cluster first
#:   --rollout-timeout S    whole seconds a rollout may take (default 120)
#:   --retries N            health checks before giving up (default 10)
#:   --interval S           pause between health checks (default 1)
#:   --timeout S            limit for one health request (default 5)
#:   --step-timeout S       limit for every other docker, kubectl and kind command (default 600)
#:   --docker PATH          docker binary (default docker, env DOCKER)
#:   --kubectl PATH         kubectl binary (default kubectl, env KUBECTL)
#:   --kind PATH            kind binary (default kind, env KIND)
#:   -h, --help             print the usage on stdout, exit 0

die_usage() { printf 'error: %s\n' "$1" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
positional=()

while (($#)); do
  case $1 in
    -h | --help) print_usage; exit 0 ;;
    --build-arg | --label)
      [[ $# -ge 2 ]] || die_usage "$1 needs a value"
      if [[ $1 == --label ]]; then labels+=("--label=$2"); else build_args+=("--build-arg=$2"); fi
      shift 2 ;;
    --*)
      key=${1#--}
      [[ -v "opt[$key]" ]] || die_usage "unknown option $1"
      [[ $# -ge 2 ]] || die_usage "$1 needs a value"
      opt[$key]=$2
      shift 2 ;;
    -*) die_usage "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || die_usage "exactly one VERSION expected"
version=${positional[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || die_usage "not an image tag: $version"
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || die_usage "--mode is docker or k8s"
int_re='^0*[1-9][0-9]{0,17}$'  # at most 18 digits: a longer number would wrap round at 64 bits
num_re='^0*([1-9][0-9]*(\.[0-9]*)?|0?\.[0-9]*[1-9][0-9]*)$'
for key in port retries rollout-timeout; do
  [[ ${opt[$key]} =~ $int_re ]] || die_usage "--$key is a positive integer"
done
for key in interval timeout step-timeout; do
  [[ ${opt[$key]} =~ $num_re ]] || die_usage "--$key is a positive number"
done
[[ ${opt[port]} =~ ^0*[0-9]{1,5}$ ]] || die_usage "--port is 1-65535"
port=$((10#${opt[port]}))
((port <= 65535)) || die_usage "--port is 1-65535"
retries=$((10#${opt[retries]}))
rollout_s=$((10#${opt[rollout-timeout]}))
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
image="${opt[image]}:${version}"
step_s=${opt[step-timeout]}
previous_id=""

dk() { timeout "$step_s" "${opt[docker]}" "$@"; }
kc() { timeout "$step_s" "${opt[kubectl]}" -n "$ns" "$@"; }
kc_rollout_status() { timeout $((rollout_s + 15)) "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" "--timeout=${rollout_s}s"; }

start_container() {  # start_container IMAGE
  dk run --detach --name "$name" --publish "127.0.0.1:${port}:8000" "${labels[@]}" "$1" >&2
}

wait_running() {
  local started=${EPOCHREALTIME/./} running
  until running=$(dk inspect --format '{{.State.Running}}' "$name") && [[ $running == true ]]; do
    if [[ $(dk inspect --format '{{.State.Status}}' "$name" 2>/dev/null) =~ ^(exited|dead)$ ]]; then
      say "$name exited"
      return 1
    fi
    if (((${EPOCHREALTIME/./} - started) / 1000000 >= rollout_s)); then
      say "$name is not running after ${rollout_s}s"
      return 1
    fi
    sleep 0.25
  done
}

deploy_docker() {
  if ! previous_id=$(dk inspect --format '{{.Image}}' "$name" 2>/dev/null); then
    previous_id=""
  fi
  dk rm --force "$name" >/dev/null 2>&1 || true
  start_container "$image" || return 1
  wait_running
}

deploy_k8s() {
  kc set image "deployment/$name" "${container}=${image}" >&2 || return 1
  kc_rollout_status >&2
}

undo_docker() {
  dk rm --force "$name" >&2 || true
  [[ -z $previous_id ]] || start_container "$previous_id" || say "the previous image did not start again"
}

undo_k8s() {
  kc rollout undo "deployment/$name" >&2 || { say "rollout undo failed"; return; }
  kc_rollout_status >&2 || say "the undo rollout did not finish"
}

undo_and_fail() {
  say "FAILED: $1; undoing"
  case ${opt[mode]} in
    docker) undo_docker ;;
    k8s) undo_k8s ;;
  esac
  exit 1
}

check_health_once() {
  case ${opt[mode]} in
    docker) curl -fsS --max-time "${opt[timeout]}" "http://127.0.0.1:${port}/health" >&2 ;;
    k8s) timeout "${opt[timeout]}" "${opt[kubectl]}" -n "$ns" get --raw "/api/v1/namespaces/${ns}/services/${name}:${port}/proxy/health" >&2 ;;
  esac
}

check_health() {
  local attempt=1
  until check_health_once; do
    ((attempt < retries)) || return 1
    attempt=$((attempt + 1))
    sleep "${opt[interval]}"
  done
}

say "build $image"
dk build --tag "$image" "${build_args[@]}" "${opt[context]}" >&2 || exit 1
say "test $image"
dk run --rm "${labels[@]}" "$image" sh -c "${opt[test-cmd]}" >&2 || { say "tests failed"; exit 1; }

case ${opt[mode]} in
  docker)
    deploy_docker || undo_and_fail "deploy" ;;
  k8s)
    if [[ -n ${opt[kind-cluster]} ]]; then
      timeout "$step_s" "${opt[kind]}" load docker-image "$image" --name "${opt[kind-cluster]}" >&2 || exit 1
    fi
    deploy_k8s || undo_and_fail "rollout" ;;
esac
check_health || undo_and_fail "health check"
say "deployed $image"
