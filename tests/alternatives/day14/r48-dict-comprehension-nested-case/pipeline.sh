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

set -euo pipefail
LC_ALL=C

usage() {
  sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$0"
}
die_usage() {
  printf 'error: %s\n' "$1" >&2
  usage >&2
  exit 2
}
log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

MODE=docker
IMAGE=ml-model
CONTEXT=.
BUILD_ARGS=()
TEST_CMD="python -m pytest -q"
NAME=ml-model
PORT=8000
LABELS=()
NAMESPACE=default
CONTAINER=""
KIND_CLUSTER=""
ROLLOUT_TIMEOUT=120
RETRIES=10
INTERVAL=1
TIMEOUT=5
STEP_TIMEOUT=600
DOCKER_BIN="${DOCKER:-docker}"
KUBECTL_BIN="${KUBECTL:-kubectl}"
KIND_BIN="${KIND:-kind}"
VERSION=""
PREVIOUS_IMAGE=""
positional=()
problem=""

while (($# > 0)); do
  opt="$1"
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      if (($# < 2)); then
        problem=${problem:-"$opt needs a value"}
        shift
        continue
      fi
      value="$2"
      shift 2
      case "$opt" in
        --mode) MODE="$value" ;;
        --image) IMAGE="$value" ;;
        --context) CONTEXT="$value" ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$value") ;;
        --test-cmd) TEST_CMD="$value" ;;
        --name) NAME="$value" ;;
        --port) PORT="$value" ;;
        --label) LABELS+=(--label "$value") ;;
        --namespace) NAMESPACE="$value" ;;
        --container) CONTAINER="$value" ;;
        --kind-cluster) KIND_CLUSTER="$value" ;;
        --rollout-timeout) ROLLOUT_TIMEOUT="$value" ;;
        --retries) RETRIES="$value" ;;
        --interval) INTERVAL="$value" ;;
        --timeout) TIMEOUT="$value" ;;
        --step-timeout) STEP_TIMEOUT="$value" ;;
        --docker) DOCKER_BIN="$value" ;;
        --kubectl) KUBECTL_BIN="$value" ;;
        --kind) KIND_BIN="$value" ;;
      esac
      ;;
    --) shift; positional+=("$@"); break ;;
    -*) problem=${problem:-"unknown option $opt"}; shift ;;
    *) positional+=("$opt"); shift ;;
  esac
done

[[ -z "$problem" ]] || die_usage "$problem"
((${#positional[@]} == 1)) || die_usage "exactly one VERSION is needed"
VERSION="${positional[0]}"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "VERSION '$VERSION' is not a valid image tag"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
CONTAINER="${CONTAINER:-$NAME}"

# whole_number NAME VALUE MAXDIGITS: prints the decimal value without leading zeros, or fails
whole_number() {
  local value="$2" digits
  [[ "$value" =~ ^[0-9]+$ ]] || return 1
  digits="${value#"${value%%[!0]*}"}"
  [[ -n "$digits" ]] || return 1
  ((${#digits} <= $3)) || return 1
  printf '%s' "$((10#$digits))"
}
positive_number() {
  [[ "$1" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && [[ "$1" =~ [1-9] ]]
}

PORT="$(whole_number port "$PORT" 5)" || die_usage "--port must be 1-65535"
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES="$(whole_number retries "$RETRIES" 18)" || die_usage "--retries must be a positive integer (at most 18 digits)"
ROLLOUT_TIMEOUT="$(whole_number rollout "$ROLLOUT_TIMEOUT" 18)" || die_usage "--rollout-timeout must be a positive integer (at most 18 digits)"
positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"

TAG="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

step() { timeout "$STEP_TIMEOUT" "$@"; }
kube() { timeout "$STEP_TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}
now_us() { local t="$EPOCHREALTIME"; printf '%s' "$((10#${t%.*} * 1000000 + 10#${t#*.}))"; }
# seconds left before the deadline (start_us + ROLLOUT_TIMEOUT), as a decimal; empty when it has passed
left_of() {
  local elapsed=$(( $(now_us) - $1 ))
  if ((ROLLOUT_TIMEOUT > 1000000000)); then printf '%s' "$ROLLOUT_TIMEOUT"; return; fi
  local rest=$((ROLLOUT_TIMEOUT * 1000000 - elapsed))
  ((rest > 0)) || return 0
  printf '%d.%06d' "$((rest / 1000000))" "$((rest % 1000000))"
}
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 < b + 0) print a; else print b }'; }

undo() {
  log "FAILED: $1; undoing the deploy of $TAG"
  local ok=1
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" >&2 || log "could not remove container $NAME (going on with the undo)"
      if [[ -n "$PREVIOUS_IMAGE" ]]; then
        step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" \
          "$PREVIOUS_IMAGE" >&2 || ok=0
      else
        log "no previous container: nothing to bring back"
      fi
      ;;
    k8s)
      { kube rollout undo "deployment/$NAME" >&2 && rollout_wait; } || ok=0
      ;;
  esac
  if ((ok)); then
    log "undo complete: the previous version serves again"
  else
    log "UNDO FAILED: the previous version could not be brought back; a person has to look"
  fi
  exit 1
}

container_running() {
  local start_us="$1" left status
  while :; do
    left="$(left_of "$start_us")"
    [[ -n "$left" ]] || { log "container $NAME not running within ${ROLLOUT_TIMEOUT}s"; return 1; }
    if status="$(step "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME")"; then
      case "$status" in
        running)
          [[ -n "$(left_of "$start_us")" ]] || { log "container $NAME ran only after ${ROLLOUT_TIMEOUT}s"; return 1; }
          return 0 ;;
        exited|dead) log "container $NAME is $status"; return 1 ;;
      esac
    fi
    left="$(left_of "$start_us")"
    [[ -n "$left" ]] || continue
    sleep "$(min_of "$INTERVAL" "$left")"
  done
}

docker_deploy() {
  PREVIOUS_IMAGE="$(step "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS_IMAGE=""
  log "previous image: ${PREVIOUS_IMAGE:-none}"
  step "$DOCKER_BIN" rm --force "$NAME" >/dev/null 2>&1 || true
  local start_us
  start_us="$(now_us)"
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG" >&2 || return 1
  container_running "$start_us" || return 1
}

k8s_deploy() {
  kube set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || return 1
  rollout_wait || return 1
}

health_once() {
  case "$MODE" in
    docker) curl -fsS -o /dev/null --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
           "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
  esac
}

healthy() {
  local i
  for ((i = 1; i <= RETRIES; i++)); do
    if health_once; then
      log "health check $i passed"
      return 0
    fi
    log "health check $i of $RETRIES failed"
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log "building $TAG"
step "$DOCKER_BIN" build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
step "$DOCKER_BIN" run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed in $TAG: nothing deployed"; exit 1; }
if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
  step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed: nothing deployed"; exit 1; }
fi
log "deploying $TAG ($MODE)"
case "$MODE" in
  docker) docker_deploy || undo "deploy of $TAG" ;;
  k8s) k8s_deploy || undo "rollout of $TAG" ;;
esac
healthy || undo "health check of $TAG"
log "deployed $TAG: healthy"
