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

set -Eeuo pipefail
export LC_ALL=C
shopt -s extglob

print_usage() {
  grep '^#   \|^# usage:' "$0" | cut -c3-
}
bad_usage() {
  echo "pipeline.sh: $*" >&2
  print_usage >&2
  exit 2
}
say() { echo "[$(date '+%H:%M:%S')] pipeline: $*" >&2; }

opt_mode=docker opt_image=ml-model opt_context=. opt_test_cmd="python -m pytest -q"
opt_name=ml-model opt_port=8000 opt_namespace=default opt_container="" opt_kind_cluster=""
opt_rollout_timeout=120 opt_retries=10 opt_interval=1 opt_timeout=5 opt_step_timeout=600
docker_bin=${DOCKER:-docker}
kubectl_bin=${KUBECTL:-kubectl}
kind_bin=${KIND:-kind}
build_args=()
labels=()
versions=()
previous=""
bad=""

take() {  # the value of option $1 given as $2 (--opt value) or empty when missing
  if [[ $# -lt 2 ]]; then bad="option $1 needs a value"; return 1; fi
}

while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) print_usage; exit 0 ;;
    --*=*) key=${1%%=*}; val=${1#*=}; shift; set -- "$key" "$val" "$@"; continue ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|--rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      if ! take "$@"; then shift; continue; fi
      case $1 in
        --build-arg) build_args+=("--build-arg=$2") ;;
        --label) labels+=("--label=$2") ;;
        --docker) docker_bin=$2 ;;
        --kubectl) kubectl_bin=$2 ;;
        --kind) kind_bin=$2 ;;
        *) var="opt_${1#--}"; var=${var//-/_}; printf -v "$var" '%s' "$2" ;;
      esac
      shift 2 ;;
    -?*) bad=${bad:-"unknown option $1"}; shift ;;
    *) versions+=("$1"); shift ;;
  esac
done

[[ -z $bad ]] || bad_usage "$bad"
[[ ${#versions[@]} -eq 1 ]] || bad_usage "give exactly one VERSION"
version=${versions[0]}
if [[ ${#version} -gt 128 || $version != [A-Za-z0-9_]* || $version == *[!A-Za-z0-9_.-]* ]]; then
  bad_usage "not a valid image tag: $version"
fi
[[ $opt_mode == docker || $opt_mode == k8s ]] || bad_usage "--mode is docker or k8s"

decimal() {  # $1 option, $2 value, $3 max digits: normalised value on stdout
  local v=$2
  [[ $v == +([0-9]) ]] || return 1
  v=${v##+(0)}
  [[ -n $v && ${#v} -le $3 ]] || return 1
  echo "$v"
}
number() { [[ $1 == @(+([0-9])?(.)*([0-9])|.+([0-9])) && $1 == *[1-9]* ]]; }

opt_port=$(decimal port "$opt_port" 5) && [[ $opt_port -le 65535 ]] || bad_usage "--port is 1-65535"
opt_retries=$(decimal retries "$opt_retries" 18) || bad_usage "--retries is a positive whole number"
opt_rollout_timeout=$(decimal rollout "$opt_rollout_timeout" 18) || bad_usage "--rollout-timeout is a positive whole number"
number "$opt_interval" || bad_usage "--interval is a positive number"
number "$opt_timeout" || bad_usage "--timeout is a positive number"
number "$opt_step_timeout" || bad_usage "--step-timeout is a positive number"
[[ -n $opt_container ]] || opt_container=$opt_name

ref="$opt_image:$version"
ns=(--namespace "$opt_namespace")

bounded() { timeout "$opt_step_timeout" "$@"; }
wait_rollout() {
  timeout $((opt_rollout_timeout + 60)) "$kubectl_bin" "${ns[@]}" rollout status "deployment/$opt_name" \
    "--timeout=${opt_rollout_timeout}s" 1>&2
}
elapsed_ns() { echo $(( $(date +%s%N) - $1 )); }
past_deadline() {  # started at $1 (ns): more than --rollout-timeout seconds ago?
  local e
  e=$(elapsed_ns "$1")
  (( e / 1000000000 > opt_rollout_timeout || (e / 1000000000 == opt_rollout_timeout && e % 1000000000 > 0) ))
}

docker_undo() {
  bounded "$docker_bin" rm --force "$opt_name" 1>&2 || say "removing $opt_name failed; going on"
  [[ -n $previous ]] || { say "there was no previous container to bring back"; return 0; }
  bounded "$docker_bin" run --detach --name "$opt_name" --publish "127.0.0.1:$opt_port:8000" "${labels[@]}" "$previous" 1>&2
}
k8s_undo() {
  bounded "$kubectl_bin" "${ns[@]}" rollout undo "deployment/$opt_name" 1>&2 && wait_rollout
}
undo() {
  say "$1 - undoing $ref"
  local result=0
  case $opt_mode in
    docker) docker_undo || result=$? ;;
    k8s) k8s_undo || result=$? ;;
  esac
  if [[ $result -eq 0 ]]; then say "undo done"; else say "the undo failed (code $result): check by hand"; fi
  exit 1
}

wait_running() {
  local started=$1 state
  until past_deadline "$started"; do
    state=$(bounded "$docker_bin" inspect --format '{{.State.Status}}' "$opt_name") || state=unknown
    if [[ $state == running ]]; then
      if past_deadline "$started"; then return 1; fi
      return 0
    fi
    if [[ $state == exited || $state == dead ]]; then
      say "the new container is $state"
      return 1
    fi
    sleep "$opt_interval"
  done
  say "the new container did not run within ${opt_rollout_timeout}s"
  return 1
}

docker_deploy() {
  if ! previous=$(bounded "$docker_bin" inspect --format '{{.Image}}' "$opt_name" 2>/dev/null); then
    previous=""
  fi
  bounded "$docker_bin" rm --force "$opt_name" >/dev/null 2>&1 || :
  local started
  started=$(date +%s%N)
  bounded "$docker_bin" run --detach --name "$opt_name" --publish "127.0.0.1:$opt_port:8000" "${labels[@]}" "$ref" 1>&2 || return 1
  wait_running "$started"
}
k8s_deploy() {
  bounded "$kubectl_bin" "${ns[@]}" set image "deployment/$opt_name" "$opt_container=$ref" 1>&2 || return 1
  wait_rollout || return 1
}

check_health() {
  if [[ $opt_mode == docker ]]; then
    curl --silent --fail --output /dev/null --max-time "$opt_timeout" "http://127.0.0.1:$opt_port/health"
  else
    timeout "$opt_timeout" "$kubectl_bin" "${ns[@]}" get --raw \
      "/api/v1/namespaces/$opt_namespace/services/$opt_name:$opt_port/proxy/health" >/dev/null
  fi
}

say "build $ref"
bounded "$docker_bin" build --tag "$ref" "${build_args[@]}" "$opt_context" 1>&2 || { say "build failed"; exit 1; }
say "test $ref"
if ! bounded "$docker_bin" run --rm "${labels[@]}" "$ref" sh -c "$opt_test_cmd" 1>&2; then
  say "tests failed; nothing deployed"
  exit 1
fi
if [[ $opt_mode == k8s && -n $opt_kind_cluster ]]; then
  bounded "$kind_bin" load docker-image "$ref" --name "$opt_kind_cluster" 1>&2 || { say "kind load failed"; exit 1; }
fi
case $opt_mode in
  docker) docker_deploy || undo "deploy failed" ;;
  k8s) k8s_deploy || undo "rollout failed" ;;
esac
attempt=0
until check_health; do
  attempt=$((attempt + 1))
  say "health check $attempt/$opt_retries failed"
  [[ $attempt -lt $opt_retries ]] || undo "health check failed"
  sleep "$opt_interval"
done
say "$ref is deployed and healthy"
