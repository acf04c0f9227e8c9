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
set -o errexit -o nounset -o pipefail

print_usage() { grep '^#   \|^# usage:' "$0" | cut -c3-; }
fail_usage() {
  printf 'error: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}
say() { echo "[$(date '+%F %T')] $*" >&2; }

# Tools: option > environment variable > PATH.
docker_cmd=${DOCKER:-docker}
kubectl_cmd=${KUBECTL:-kubectl}
kind_cmd=${KIND:-kind}

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600
)
build_args=()
run_labels=()

long="help,mode:,image:,context:,build-arg:,test-cmd:,name:,port:,label:,namespace:,container:,kind-cluster:"
long+=",rollout-timeout:,retries:,interval:,timeout:,step-timeout:,docker:,kubectl:,kind:"
parsed=$(getopt --name pipeline.sh --options h --longoptions "$long" -- "$@" 2>&1) || fail_usage "${parsed:-bad options}"
eval set -- "$parsed"
while true; do
  case $1 in
    -h | --help) print_usage; exit 0 ;;
    --build-arg) build_args+=("--build-arg=$2"); shift 2 ;;
    --label) run_labels+=("--label=$2"); shift 2 ;;
    --docker) docker_cmd=$2; shift 2 ;;
    --kubectl) kubectl_cmd=$2; shift 2 ;;
    --kind) kind_cmd=$2; shift 2 ;;
    --) shift; break ;;
    --*) opt[${1#--}]=$2; shift 2 ;;
    *) fail_usage "unexpected $1" ;;
  esac
done
(($# == 1)) || fail_usage "expected exactly one VERSION, got $#"
version=$1

whole() { case $1 in '' | *[!0-9]*) return 1 ;; esac; [[ $1 =~ ^0*[0-9]{1,18}$ ]] && ((10#$1 >= 1)); }  # leading zeros aside
port_ok() { whole "$1" && ((10#$1 <= 65535)); }
decimal() { [[ $1 =~ ^[0-9]*\.?[0-9]*$ && $1 =~ [1-9] ]]; }

[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || fail_usage "VERSION '$version' is not an image tag"
case ${opt[mode]} in docker | k8s) ;; *) fail_usage "--mode is docker or k8s" ;; esac
port_ok "${opt[port]}" || fail_usage "--port is 1-65535"
for key in retries rollout-timeout; do
  whole "${opt[$key]}" || fail_usage "--$key is a whole number above 0"
done
for key in interval timeout step-timeout; do
  decimal "${opt[$key]}" || fail_usage "--$key is a number above 0"
done

image="${opt[image]}:$version"
name=${opt[name]}
port=$((10#${opt[port]}))
ns=${opt[namespace]}
container=${opt[container]:-$name}
limit=${opt[step-timeout]}
rollout_s=$((10#${opt[rollout-timeout]}))
retries=$((10#${opt[retries]}))
previous_id=""

bounded() { timeout "$limit" "$@"; }
kc() { bounded "$kubectl_cmd" "--namespace=$ns" "$@"; }
wait_rollout() {
  timeout "$((rollout_s + 15))" "$kubectl_cmd" "--namespace=$ns" rollout status "deployment/$name" "--timeout=${rollout_s}s" >&2
}
start_container() {
  bounded "$docker_cmd" run -d "--name=$name" "--publish=127.0.0.1:$port:8000" "${run_labels[@]}" "$1" >&2
}

state_running() { [[ $(bounded "$docker_cmd" inspect --format '{{.State.Running}}' "$name") == true ]]; }
state_exited() { [[ $(bounded "$docker_cmd" inspect --format '{{.State.Status}}' "$name") =~ ^(exited|dead)$ ]]; }

docker_deploy() {
  if previous_id=$(bounded "$docker_cmd" inspect --format '{{.Image}}' "$name" 2>/dev/null); then
    say "replacing $name (image $previous_id)"
  else
    previous_id=""
    say "no container $name yet"
  fi
  bounded "$docker_cmd" rm --force "$name" >/dev/null 2>&1 || true
  start_container "$image" || return 1
  local since_ns
  since_ns=$(date +%s%N)
  until state_running; do
    if state_exited; then say "$name exited"; return 1; fi
    ((($(date +%s%N) - since_ns) / 1000000000 < rollout_s)) || { say "$name not running after ${rollout_s}s"; return 1; }
    sleep 0.25
  done
}

k8s_deploy() {
  if [[ -n ${opt[kind-cluster]} ]]; then
    bounded "$kind_cmd" load docker-image "$image" "--name=${opt[kind-cluster]}" >&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kc set image "deployment/$name" "$container=$image" >&2 || return 1
  wait_rollout || return 1
}

check_health() {
  if [[ ${opt[mode]} == docker ]]; then
    curl -fsS -m "${opt[timeout]}" -o /dev/null "http://127.0.0.1:$port/health"
  else
    kc get "--raw=/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null
  fi
}

wait_healthy() {
  local n=0
  while :; do
    n=$((n + 1))
    check_health && return 0
    say "health check $n of $retries failed"
    ((n < retries)) || return 1
    sleep "${opt[interval]}"
  done
}

roll_back() {
  say "rolling back: $1"
  if [[ ${opt[mode]} == docker ]]; then
    bounded "$docker_cmd" rm --force "$name" >&2 || true
    [[ -z $previous_id ]] || start_container "$previous_id" || say "previous image did not start"
  else
    kc rollout undo "deployment/$name" >&2 || say "rollout undo failed"
    wait_rollout || say "the undone rollout did not finish"
  fi
  exit 1
}

say "build $image"
bounded "$docker_cmd" build "--tag=$image" "${build_args[@]}" "${opt[context]}" >&2 || exit 1
say "test $image"
bounded "$docker_cmd" run --rm "${run_labels[@]}" "$image" sh -c "${opt[test-cmd]}" >&2 || exit 1
case ${opt[mode]} in
  docker) docker_deploy ;;
  k8s) k8s_deploy ;;
esac || roll_back "deploy failed"
wait_healthy || roll_back "unhealthy"
say "$image is live"
