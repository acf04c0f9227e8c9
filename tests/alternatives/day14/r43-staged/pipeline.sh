#!/usr/bin/env bash
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

print_usage() { sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
bad() { echo "error: $*" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

declare -A cfg=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
declare -a build_flags=() label_flags=() operands=()
previous=""

for arg in "$@"; do
  case "$arg" in -h|--help) print_usage; exit 0 ;; esac
done

while (($#)); do
  case "$1" in
    --build-arg|--label)
      (($# > 1)) || bad "$1 wants a value"
      if [[ "$1" == --label ]]; then label_flags+=(-l "$2"); else build_flags+=(--build-arg "$2"); fi
      shift 2 ;;
    --*)
      key="${1#--}"
      [[ -n "$key" && -v "cfg[$key]" ]] || bad "unknown option $1"
      (($# > 1)) || bad "$1 wants a value"
      cfg[$key]="$2"
      shift 2 ;;
    -*) bad "unknown option $1" ;;
    *) operands+=("$1"); shift ;;
  esac
done

((${#operands[@]} == 1)) || bad "give exactly one VERSION"
version="${operands[0]}"
LC_ALL=C
tag_chars='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'
((${#version} >= 1 && ${#version} <= 128)) || bad "bad VERSION"
[[ "${version:0:1}" == ["$tag_chars"] ]] || bad "bad VERSION"
rest="${version:1}"
[[ -z "${rest//["$tag_chars".-]/}" ]] || bad "bad VERSION"

[[ "${cfg[mode]}" == docker || "${cfg[mode]}" == k8s ]] || bad "--mode is docker or k8s"

for key in port retries rollout-timeout; do
  raw="${cfg[$key]}"
  [[ "$raw" =~ ^0*([0-9]{1,18})$ ]] || bad "--$key wants a whole number"
  cfg[$key]=$((10#${BASH_REMATCH[1]}))
  ((cfg[$key] > 0)) || bad "--$key must be positive"
done
((cfg[port] <= 65535)) || bad "--port is 1-65535"
for key in interval timeout step-timeout; do
  [[ "${cfg[$key]}" =~ ^[0-9]*\.?[0-9]+$ && "${cfg[$key]}" =~ [1-9] ]] || bad "--$key wants a positive number"
done
[[ -n "${cfg[container]}" ]] || cfg[container]="${cfg[name]}"

ref="${cfg[image]}:$version"
name="${cfg[name]}"
ns="${cfg[namespace]}"
publish="127.0.0.1:${cfg[port]}:8000"

bounded() { timeout "${cfg[step-timeout]}" "$@"; }
dkr() { bounded "${cfg[docker]}" "$@" >&2; }
kctl() { bounded "${cfg[kubectl]}" -n "$ns" "$@" >&2; }
wait_rollout() {
  timeout "$((cfg[rollout-timeout] + 60))" "${cfg[kubectl]}" -n "$ns" rollout status "deployment/$name" \
    --timeout "${cfg[rollout-timeout]}s" >&2
}
past() { awk -v now="$(date +%s.%N)" -v end="$1" 'BEGIN { exit !(now >= end) }'; }

rollback() {
  say "FAILED: $*. Rolling back."
  if [[ "${cfg[mode]}" == docker ]]; then
    dkr container rm -f "$name" || say "could not remove $name"
    if [[ -n "$previous" ]]; then
      dkr container run -d -p "$publish" --name "$name" "${label_flags[@]}" "$previous" || say "could not restart $previous"
    fi
  else
    { kctl rollout undo "deployment/$name" && wait_rollout; } || say "the rollback itself failed"
  fi
  exit 1
}

docker_deploy() {
  local deadline state
  previous="$(bounded "${cfg[docker]}" container inspect --format '{{.Config.Image}}' "$name")" || previous=""
  dkr container rm -f "$name" || true
  deadline="$(awk -v now="$(date +%s.%N)" -v s="${cfg[rollout-timeout]}" 'BEGIN { printf "%.6f", now + s }')"
  dkr container run -d -p "$publish" --name "$name" "${label_flags[@]}" "$ref" || return 1
  while :; do
    state="$(bounded "${cfg[docker]}" container inspect --format '{{.State.Status}}' "$name")" || state="unknown"
    [[ "$state" == running ]] && return 0
    [[ "$state" == exited || "$state" == dead ]] && return 1
    sleep "${cfg[interval]}"
    if past "$deadline"; then return 1; fi
  done
}

k8s_deploy() {
  kctl set image "deployment/$name" "${cfg[container]}=$ref" || return 1
  wait_rollout
}

probe_health() {
  if [[ "${cfg[mode]}" == docker ]]; then
    curl -fsS -m "${cfg[timeout]}" -o /dev/null "http://127.0.0.1:${cfg[port]}/health"
  else
    bounded "${cfg[kubectl]}" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:${cfg[port]}/proxy/health" >/dev/null
  fi
}

say "build $ref"
dkr build "${build_flags[@]}" --tag "$ref" "${cfg[context]}" || exit 1
say "test $ref"
dkr run --rm "${label_flags[@]}" "$ref" sh -c "${cfg[test-cmd]}" || exit 1
if [[ "${cfg[mode]}" == k8s && -n "${cfg[kind-cluster]}" ]]; then
  bounded "${cfg[kind]}" load docker-image "$ref" --name "${cfg[kind-cluster]}" >&2 || exit 1
fi
case "${cfg[mode]}" in
  docker) docker_deploy || rollback "deploy of $ref" ;;
  k8s) k8s_deploy || rollback "rollout of $ref" ;;
esac
left="${cfg[retries]}"
until probe_health; do
  left=$((left - 1))
  ((left > 0)) || rollback "health of $ref"
  sleep "${cfg[interval]}"
done
say "deployed $ref"
