#!/usr/bin/env bash
# pipeline.sh — mode-dispatched deploy pipeline: build → test → deploy → wait → health, undo on failure.
set -o errexit -o nounset -o pipefail

declare -A cfg=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=() labels=() versions=()

print_usage() {
  sed -n 's/^#@ \{0,1\}//p' "${BASH_SOURCE[0]}"
}
#@ usage: pipeline.sh [options] VERSION
#@   --mode docker|k8s --image NAME --context DIR --build-arg K=V --test-cmd CMD --name NAME --port PORT
#@   --label K=V --namespace NS --container NAME --kind-cluster NAME --rollout-timeout S --retries N
#@   --interval S --timeout S --step-timeout S --docker PATH --kubectl PATH --kind PATH -h|--help
usage_error() { printf 'pipeline.sh: %s\n' "$1" >&2; print_usage >&2; exit 2; }
note() { printf '[%s] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*"; }

while (($#)); do
  case $1 in
    -h | --help) print_usage; exit 0 ;;
    --build-arg | --label)
      (($# > 1)) || usage_error "$1 needs a value"
      if [[ $1 == --build-arg ]]; then build_args+=("--build-arg=$2"); else labels+=("--label=$2"); fi
      shift 2 ;;
    --*)
      key=${1#--}
      [[ -v "cfg[$key]" ]] || usage_error "unknown option $1"
      (($# > 1)) || usage_error "$1 needs a value"
      cfg[$key]=$2
      shift 2 ;;
    *) versions+=("$1"); shift ;;
  esac
done

((${#versions[@]} == 1)) || usage_error "give exactly one VERSION"
version=${versions[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "VERSION '$version' is not a valid tag"
case ${cfg[mode]} in docker | k8s) ;; *) usage_error "--mode is docker or k8s" ;; esac
[[ ${cfg[port]} =~ ^0*[0-9]{1,5}$ ]] || usage_error "--port must be 1-65535"
for key in port retries rollout-timeout; do
  # at most 18 digits (leading zeros aside): bash arithmetic would wrap a longer one round at 64 bits
  [[ ${cfg[$key]} =~ ^0*[1-9][0-9]{0,17}$ ]] || usage_error "--$key must be a positive integer"
  cfg[$key]=$((10#${cfg[$key]}))  # decimal: a leading zero is not octal
done
((cfg[port] <= 65535)) || usage_error "--port must be at most 65535"
for key in interval timeout step-timeout; do
  awk -v v="${cfg[$key]}" 'BEGIN { exit !(v ~ /^[0-9]*\.?[0-9]+$/ && v + 0 > 0) }' || usage_error "--$key must be a positive number"
done

ref="${cfg[image]}:$version"
name=${cfg[name]}
ns=${cfg[namespace]}
previous=""

bounded() { timeout --kill-after=5 "${cfg[step-timeout]}" "$@"; }
docker_() { bounded "${cfg[docker]}" "$@" 1>&2; }
kubectl_() { bounded "${cfg[kubectl]}" "--namespace=$ns" "$@" 1>&2; }
wait_rollout() {
  timeout --kill-after=5 $((cfg[rollout-timeout] + 15)) "${cfg[kubectl]}" "--namespace=$ns" \
    rollout status "deployment/$name" "--timeout=${cfg[rollout-timeout]}s" 1>&2
}

docker_deploy() {
  previous=$(bounded "${cfg[docker]}" container inspect --format '{{.Config.Image}}' "$name" 2>/dev/null || true)
  note "previous image: ${previous:-none}"
  docker_ rm --force "$name" || true
  docker_ run --detach --name "$name" --publish "127.0.0.1:${cfg[port]}:8000" "${labels[@]}" "$ref"
}
docker_rollout_wait() {
  local started=${EPOCHREALTIME/./}
  while (((${EPOCHREALTIME/./} - started) / 1000000 < cfg[rollout-timeout])); do
    [[ $(bounded "${cfg[docker]}" container inspect --format '{{.State.Running}}' "$name" 2>/dev/null || true) == true ]] && return 0
    [[ $(bounded "${cfg[docker]}" container inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true) =~ ^(exited|dead)$ ]] && return 1
    sleep 0.5
  done
  return 1
}
docker_health() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "${cfg[timeout]}" "http://127.0.0.1:${cfg[port]}/health" || true)
  [[ $code == 200 ]]
}
docker_undo() {
  docker_ rm --force "$name" || note "ERROR could not remove $name"
  if [[ -n $previous ]]; then
    docker_ run --detach --name "$name" --publish "127.0.0.1:${cfg[port]}:8000" "${labels[@]}" "$previous" \
      || note "ERROR could not restore $previous"
  fi
}

k8s_deploy() {
  if [[ -n ${cfg[kind-cluster]} ]]; then
    bounded "${cfg[kind]}" load docker-image "$ref" --name "${cfg[kind-cluster]}" 1>&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  kubectl_ set image "deployment/$name" "${cfg[container]:-$name}=$ref"
}
k8s_rollout_wait() { wait_rollout; }
k8s_health() {
  timeout "${cfg[timeout]}" "${cfg[kubectl]}" "--namespace=$ns" get --raw \
    "/api/v1/namespaces/$ns/services/$name:${cfg[port]}/proxy/health" >/dev/null 2>&1
}
k8s_undo() {
  kubectl_ rollout undo "deployment/$name" || note "ERROR rollout undo failed"
  wait_rollout || note "ERROR the undo rollout did not finish"
}

mode=${cfg[mode]}
undo() { note "ERROR $1: undoing"; "${mode}_undo"; exit 1; }

note "build $ref"
docker_ build --tag "$ref" "${build_args[@]}" "${cfg[context]}" || { note "ERROR build failed"; exit 1; }
note "test $ref: ${cfg[test-cmd]}"
docker_ run --rm "${labels[@]}" "$ref" sh -c "${cfg[test-cmd]}" || { note "ERROR tests failed, nothing deployed"; exit 1; }
note "deploy ($mode)"
"${mode}_deploy" || undo "deploy failed"
"${mode}_rollout_wait" || undo "rollout did not finish"
attempt=1
until "${mode}_health"; do
  ((attempt < cfg[retries])) || undo "health failed $attempt times"
  attempt=$((attempt + 1))
  sleep "${cfg[interval]}"
done
note "$ref is live"
