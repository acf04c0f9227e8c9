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
set -o errexit -o nounset -o pipefail

SELF="${BASH_SOURCE[0]}"
print_usage() { sed -n 's/^# \{0,1\}//; /^usage:/,/--help/p' "$SELF"; }

# Every setting in one table, initialised to the documented default.
declare -A cfg=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
declare -a BUILD_ARGS=() LABELS=() POSITIONAL=()
PREVIOUS=""

bad_usage() { printf 'pipeline.sh: %s\n' "$1" >&2; print_usage >&2; exit 2; }

args=("$@")
i=0
help=no
errors=()
while ((i < ${#args[@]})); do
  word="${args[i]}"
  case "$word" in
    -h|--help) help=yes; i=$((i + 1)) ;;
    --*=*)
      key="${word%%=*}"; key="${key#--}"; value="${word#*=}"; i=$((i + 1))
      case "$key" in
        build-arg) BUILD_ARGS+=("$value") ;;
        label) LABELS+=("$value") ;;
        *) if [[ -v "cfg[$key]" ]]; then cfg[$key]="$value"; else errors+=("unknown option --$key"); fi ;;
      esac
      ;;
    --*)
      key="${word#--}"
      if [[ "$key" != build-arg && "$key" != label && ! -v "cfg[$key]" ]]; then
        errors+=("unknown option $word"); i=$((i + 1)); continue
      fi
      if ((i + 1 >= ${#args[@]})); then errors+=("$word needs a value"); i=$((i + 1)); continue; fi
      value="${args[i + 1]}"; i=$((i + 2))
      case "$key" in
        build-arg) BUILD_ARGS+=("$value") ;;
        label) LABELS+=("$value") ;;
        *) cfg[$key]="$value" ;;
      esac
      ;;
    -?*) errors+=("unknown option $word"); i=$((i + 1)) ;;
    *) POSITIONAL+=("$word"); i=$((i + 1)) ;;
  esac
done
if [[ "$help" == yes ]]; then print_usage; exit 0; fi
((${#errors[@]} == 0)) || bad_usage "${errors[0]}"
((${#POSITIONAL[@]} == 1)) || bad_usage "expected exactly one VERSION, got ${#POSITIONAL[@]}"
VER="${POSITIONAL[0]}"

LC_ALL=C
if ! [[ "$VER" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then bad_usage "not an image tag: $VER"; fi
[[ "${cfg[mode]}" == docker || "${cfg[mode]}" == k8s ]] || bad_usage "--mode is docker or k8s"

# Whole numbers: digits only, at most 18 once leading zeros are gone, then decimal.
for key in port retries rollout-timeout; do
  text="${cfg[$key]}"
  [[ "$text" =~ ^0*([0-9]{1,18})$ ]] || bad_usage "--$key must be a whole number"
  cfg[$key]=$((10#${BASH_REMATCH[1]}))
  ((cfg[$key] >= 1)) || bad_usage "--$key must be at least 1"
done
((cfg[port] <= 65535)) || bad_usage "--port must be at most 65535"
for key in interval timeout step-timeout; do
  text="${cfg[$key]}"
  [[ "$text" =~ ^[0-9]*\.?[0-9]*$ && "$text" =~ [0-9] && "$text" =~ [1-9] ]] || bad_usage "--$key must be a positive number"
done
[[ -n "${cfg[container]}" ]] || cfg[container]="${cfg[name]}"

TAG="${cfg[image]}:$VER"
NAME="${cfg[name]}"
NS="${cfg[namespace]}"
DOCKER_CLI="${cfg[docker]}"
KUBECTL_CLI="${cfg[kubectl]}"
LABEL_OPTS=()
for label in "${LABELS[@]}"; do LABEL_OPTS+=("--label=$label"); done
BUILD_OPTS=()
for build_arg in "${BUILD_ARGS[@]}"; do BUILD_OPTS+=("--build-arg=$build_arg"); done

say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
bounded() { timeout "${cfg[step-timeout]}" "$@"; }
d() { bounded "$DOCKER_CLI" "$@"; }
k() { bounded "$KUBECTL_CLI" --namespace="$NS" "$@"; }
rollout_wait() {
  timeout "$((cfg[rollout-timeout] + 15))" "$KUBECTL_CLI" --namespace="$NS" rollout status "deployment/$NAME" \
    --timeout="${cfg[rollout-timeout]}s"
}
clock_ns() { date +%s%N; }

start_container() {  # start_container IMAGE: detached, named, on the port, labelled
  d run --detach --name "$NAME" --publish "127.0.0.1:${cfg[port]}:8000" "${LABEL_OPTS[@]}" "$1" >&2
}

deploy_docker() {
  local seen started state
  seen=$(d inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) && PREVIOUS="$seen" || PREVIOUS=""
  say "previous image: ${PREVIOUS:-none}"
  d rm --force "$NAME" >&2 || say "docker rm $NAME failed; trying the run anyway"
  started=$(clock_ns)
  start_container "$TAG" || return 1
  while true; do
    state=$(d inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || state="?"
    [[ "$state" == running ]] && return 0
    if [[ "$state" == exited || "$state" == dead ]]; then say "new container $state"; return 1; fi
    sleep "${cfg[interval]}"
    if (( ($(clock_ns) - started) / 1000000000 >= cfg[rollout-timeout] )); then say "not running in time"; return 1; fi
  done
}

deploy_k8s() {
  k set image "deployment/$NAME" "${cfg[container]}=$TAG" >&2 || return 1
  rollout_wait >&2 || return 1
}

check_health() {
  if [[ "${cfg[mode]}" == docker ]]; then
    curl -fsS -o /dev/null --max-time "${cfg[timeout]}" "http://127.0.0.1:${cfg[port]}/health"
  else
    timeout "${cfg[timeout]}" "$KUBECTL_CLI" --namespace="$NS" get \
      --raw="/api/v1/namespaces/$NS/services/$NAME:${cfg[port]}/proxy/health" >/dev/null
  fi
}

roll_back() {
  say "rolling back: $1"
  if [[ "${cfg[mode]}" == docker ]]; then
    d rm --force "$NAME" >&2 || say "rollback: docker rm failed"
    if [[ -z "$PREVIOUS" ]]; then
      say "rollback: nothing ran before; nothing to bring back"
    elif ! start_container "$PREVIOUS"; then
      say "rollback FAILED: $PREVIOUS could not be started"
    fi
  else
    if ! k rollout undo "deployment/$NAME" >&2; then
      say "rollback FAILED: rollout undo"
    elif ! rollout_wait >&2; then
      say "rollback FAILED: the undo did not finish"
    fi
  fi
  exit 1
}

d build --tag "$TAG" "${BUILD_OPTS[@]}" "${cfg[context]}" >&2 || { say "build failed"; exit 1; }
d run --rm "${LABEL_OPTS[@]}" "$TAG" sh -c "${cfg[test-cmd]}" >&2 || { say "tests failed"; exit 1; }
if [[ "${cfg[mode]}" == k8s && -n "${cfg[kind-cluster]}" ]]; then
  bounded "${cfg[kind]}" load docker-image "$TAG" --name "${cfg[kind-cluster]}" >&2 || { say "kind load failed"; exit 1; }
fi

case "${cfg[mode]}" in
  docker) deploy_docker ;;
  k8s) deploy_k8s ;;
esac || roll_back "deploy of $TAG failed"

n=0
until check_health; do
  n=$((n + 1))
  say "health check $n/${cfg[retries]} failed"
  ((n < cfg[retries])) || roll_back "$TAG unhealthy"
  sleep "${cfg[interval]}"
done
say "$TAG is deployed and healthy"
