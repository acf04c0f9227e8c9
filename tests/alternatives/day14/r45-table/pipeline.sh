#!/usr/bin/env bash
#
# pipeline.sh: build, test in the image, deploy, wait, check health, undo on failure.
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
export LC_ALL=C

print_usage() { sed -n '/^# usage:/,/^#   -h, --help/{s/^# \{0,1\}//;p;}' "$0"; }

# Every setting in one table, seeded with the documented defaults (the environment is not read).
declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
# How each checked setting is validated.
declare -A kind_of=(
  [port]=port [retries]=count [rollout-timeout]=count [interval]=decimal [timeout]=decimal [step-timeout]=decimal
)
build_args=()
labels=()
positionals=()
previous=""

bad() { printf 'pipeline.sh: %s\n' "$*" >&2; print_usage >&2; exit 2; }
say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Normalise $2 as kind $1 into REPLY; non-zero when it is not valid.
check() {
  local what=$1 text=$2 significant
  case "$what" in
    count|port)
      [[ $text =~ ^[0-9]+$ ]] || return 1
      significant=$(printf '%s' "$text" | sed 's/^0*//')
      [[ -n $significant ]] && ((${#significant} <= 18)) || return 1
      REPLY=$((10#$significant))
      [[ $what == count ]] || ((REPLY <= 65535)) || return 1
      ;;
    decimal)
      [[ $text =~ ^[0-9]*(\.[0-9]*)?$ && $text =~ [1-9] ]] || return 1
      REPLY=$text
      ;;
  esac
}

for word in "$@"; do
  [[ $word == -h || $word == --help ]] && { print_usage; exit 0; }
done

while (($#)); do
  key=${1#--}
  case "$1" in
    --build-arg|--label|--mode|--image|--context|--test-cmd|--name|--port|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# > 1)) || bad "$1 wants a value"
      case "$key" in
        build-arg) build_args+=("--build-arg=$2") ;;
        label) labels+=("--label=$2") ;;
        *) opt[$key]=$2 ;;
      esac
      shift 2
      ;;
    -*) bad "unknown option: $1" ;;
    *) positionals+=("$1"); shift ;;
  esac
done

((${#positionals[@]} == 1)) || bad "one VERSION wanted, got ${#positionals[@]}"
version=${positionals[0]}
[[ $version =~ ^[A-Za-z0-9_][-A-Za-z0-9_.]*$ && ${#version} -le 128 && $version != *$'\n'* ]] || bad "not an image tag: $version"
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || bad "--mode: docker or k8s"
for key in "${!kind_of[@]}"; do
  check "${kind_of[$key]}" "${opt[$key]}" || bad "invalid --$key: ${opt[$key]}"
  opt[$key]=$REPLY
done
[[ -n ${opt[container]} ]] || opt[container]=${opt[name]}

ref="${opt[image]}:$version"
ns=${opt[namespace]}
name=${opt[name]}

# One bounded call of a tool; the limit is the step timeout unless given with -t.
tool() {
  local limit=${opt[step-timeout]}
  if [[ $1 == -t ]]; then limit=$2; shift 2; fi
  local which=$1; shift
  timeout "$limit" "${opt[$which]}" "$@"
}
k() { tool kubectl "$@" -n "$ns"; }
wait_rollout() {
  tool -t "$((opt[rollout-timeout] + 60))" kubectl rollout status "deployment/$name" -n "$ns" \
    --timeout "${opt[rollout-timeout]}s" >&2
}
clock_ns() { date +%s%N; }

# retry N PAUSE cmd...: up to N tries, PAUSE seconds between them (none after the last).
retry() {
  local left=$1 pause=$2; shift 2
  until "$@"; do
    left=$((left - 1))
    ((left > 0)) || return 1
    sleep "$pause"
  done
}

docker_health() { curl --silent --fail --output /dev/null --max-time "${opt[timeout]}" "http://127.0.0.1:${opt[port]}/health"; }
k8s_health() { k get --raw "/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health" >/dev/null; }

start_container() {  # start_container IMAGE
  tool docker run --detach --name "$name" --publish "127.0.0.1:${opt[port]}:8000" ${labels[@]+"${labels[@]}"} "$1" >&2
}

wait_running() {
  local limit=${opt[rollout-timeout]} started=$1 status
  ((limit < 1000000000)) || limit=1000000000
  local until_ns=$((started + limit * 1000000000))
  while true; do
    status=$(tool docker inspect --format '{{.State.Status}}' "$name" 2>/dev/null) || status=unknown
    [[ $status == running ]] && return 0
    [[ $status == exited || $status == dead ]] && { say "container $name is $status"; return 1; }
    (($(clock_ns) < until_ns)) || { say "container $name not running within ${limit}s"; return 1; }
    sleep 0.25
  done
}

docker_deploy() {
  if ! previous=$(tool docker inspect --format '{{.Config.Image}}' "$name" 2>/dev/null); then previous=""; fi
  tool docker rm --force "$name" >/dev/null 2>&1 || say "no old container $name to remove"
  local started
  started=$(clock_ns)
  start_container "$ref" || return 1
  wait_running "$started" || return 1
}

k8s_deploy() {
  k set image "deployment/$name" "${opt[container]}=$ref" >&2 || return 1
  wait_rollout || return 1
}

docker_undo() {
  tool docker rm --force "$name" >&2 || say "undo: removing $name failed, going on"
  if [[ -z $previous ]]; then say "undo: nothing ran before, nothing to bring back"; return 0; fi
  start_container "$previous"
}

k8s_undo() {
  k rollout undo "deployment/$name" >&2 || say "undo: rollout undo failed"
  wait_rollout
}

undo_and_fail() {
  say "FAILED: $1 — undoing"
  local ok=0
  case "${opt[mode]}" in
    docker) docker_undo || ok=1 ;;
    k8s) k8s_undo || ok=1 ;;
  esac
  ((ok == 0)) || say "the undo failed as well: look at $name by hand"
  exit 1
}

say "build $ref"
tool docker build --tag "$ref" ${build_args[@]+"${build_args[@]}"} "${opt[context]}" >&2 || { say "build failed"; exit 1; }
say "test $ref"
tool docker run --rm ${labels[@]+"${labels[@]}"} "$ref" sh -c "${opt[test-cmd]}" >&2 || { say "tests failed"; exit 1; }
if [[ ${opt[mode]} == k8s && -n ${opt[kind-cluster]} ]]; then
  tool kind load docker-image "$ref" --name "${opt[kind-cluster]}" >&2 || { say "kind load failed"; exit 1; }
fi
case "${opt[mode]}" in
  docker) docker_deploy || undo_and_fail "deploy" ; health=docker_health ;;
  k8s) k8s_deploy || undo_and_fail "rollout" ; health=k8s_health ;;
esac
retry "${opt[retries]}" "${opt[interval]}" "$health" || undo_and_fail "health"
say "deployed $ref"
