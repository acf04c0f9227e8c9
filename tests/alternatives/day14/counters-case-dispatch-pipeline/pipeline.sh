#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy, wait, check health, undo on failure.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V  --test-cmd CMD
  --name NAME  --port PORT  --label K=V  --namespace NS  --container NAME
  --kind-cluster NAME  --rollout-timeout S  --retries N  --interval S  --timeout S
  --step-timeout S  --docker PATH  --kubectl PATH  --kind PATH  -h, --help
USAGE
}
die_usage() { echo "pipeline.sh: $*" >&2; usage >&2; exit 2; }
log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

MODE=docker IMAGE=ml-model CONTEXT=. TEST_CMD="python -m pytest -q" NAME=ml-model PORT=8000
NAMESPACE=default CONTAINER="" KIND_CLUSTER="" ROLLOUT_TIMEOUT=120 RETRIES=10 INTERVAL=1
TIMEOUT=5 STEP_TIMEOUT=600
DOCKER="${DOCKER:-docker}" KUBECTL="${KUBECTL:-kubectl}" KIND="${KIND:-kind}"
BUILD_ARGS=() LABELS=() POSITIONAL=()

while (($# > 0)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|\
    --kind-cluster|--rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# >= 2)) || die_usage "$1 needs a value"
      opt="$1" val="$2"; shift 2
      case "$opt" in
        --mode) MODE="$val" ;; --image) IMAGE="$val" ;; --context) CONTEXT="$val" ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$val") ;; --test-cmd) TEST_CMD="$val" ;;
        --name) NAME="$val" ;; --port) PORT="$val" ;; --label) LABELS+=(--label "$val") ;;
        --namespace) NAMESPACE="$val" ;; --container) CONTAINER="$val" ;;
        --kind-cluster) KIND_CLUSTER="$val" ;; --rollout-timeout) ROLLOUT_TIMEOUT="$val" ;;
        --retries) RETRIES="$val" ;; --interval) INTERVAL="$val" ;; --timeout) TIMEOUT="$val" ;;
        --step-timeout) STEP_TIMEOUT="$val" ;; --docker) DOCKER="$val" ;; --kubectl) KUBECTL="$val" ;;
        --kind) KIND="$val" ;;
      esac ;;
    --) shift; POSITIONAL+=("$@"); break ;;
    -*) die_usage "unknown option $1" ;;
    *) POSITIONAL+=("$1"); shift ;;
  esac
done

posint() { [[ "$1" =~ ^0*[1-9][0-9]{0,17}$ ]]; }  # <= 18 digits: longer wraps round at 64 bits
posnum() { [[ "$1" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

((${#POSITIONAL[@]} == 1)) || die_usage "exactly one VERSION expected"
VERSION="${POSITIONAL[0]}"
[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
[[ "$MODE" == docker || "$MODE" == k8s ]] || die_usage "--mode must be docker or k8s"
if ! [[ "$PORT" =~ ^0*[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die_usage "bad --port"; fi
posint "$RETRIES" || die_usage "bad --retries"
posint "$ROLLOUT_TIMEOUT" || die_usage "bad --rollout-timeout"
posnum "$INTERVAL" || die_usage "bad --interval"
posnum "$TIMEOUT" || die_usage "bad --timeout"
posnum "$STEP_TIMEOUT" || die_usage "bad --step-timeout"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER="${CONTAINER:-$NAME}"
TAG="$IMAGE:$VERSION"
PREVIOUS=""

step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
rollout_wait() { timeout "$((ROLLOUT_TIMEOUT + 30))" "$KUBECTL" --namespace "$NAMESPACE" rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s" >&2; }

undo() {
  log "undo: $1"
  if [[ "$MODE" == docker ]]; then
    step "$DOCKER" rm --force "$NAME" || true
    if [[ -n "$PREVIOUS" ]]; then
      step "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS" || log "could not restart $PREVIOUS"
    fi
  else
    if ! { step "$KUBECTL" --namespace "$NAMESPACE" rollout undo "deployment/$NAME" && rollout_wait; }; then
      log "undo failed"
    fi
  fi
  exit 1
}

docker_deploy() {
  PREVIOUS="$(timeout "$STEP_TIMEOUT" "$DOCKER" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null)" || PREVIOUS=""
  step "$DOCKER" rm --force "$NAME" || true
  step "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAG"
}
docker_rollout_wait() {
  local deadline=$((SECONDS + ROLLOUT_TIMEOUT)) status
  while ((SECONDS < deadline)); do
    status="$(timeout "$STEP_TIMEOUT" "$DOCKER" inspect --format '{{.State.Status}}' "$NAME")" || status=""
    [[ "$status" == running ]] && return 0
    [[ "$status" == exited || "$status" == dead ]] && return 1
    sleep 0.2
  done
  return 1
}
docker_health() { curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null; }

k8s_deploy() {
  if [[ -n "$KIND_CLUSTER" ]]; then step "$KIND" load docker-image "$TAG" --name "$KIND_CLUSTER" || { echo "kind load failed; nothing deployed" >&2; exit 1; }; fi
  step "$KUBECTL" --namespace "$NAMESPACE" set image "deployment/$NAME" "$CONTAINER=$TAG"
}
k8s_rollout_wait() { rollout_wait; }
k8s_health() {
  timeout "$TIMEOUT" "$KUBECTL" --namespace "$NAMESPACE" get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null
}

log "building $TAG"
step "$DOCKER" build --tag "$TAG" "${BUILD_ARGS[@]}" "$CONTEXT" || { log "build failed"; exit 1; }
log "testing $TAG"
step "$DOCKER" run --rm "${LABELS[@]}" "$TAG" sh -c "$TEST_CMD" || { log "tests failed"; exit 1; }
log "deploying $TAG ($MODE)"
case "$MODE" in
  docker) docker_deploy || undo "deploy failed"; docker_rollout_wait || undo "container did not start" ;;
  k8s) k8s_deploy || undo "deploy failed"; k8s_rollout_wait || undo "rollout did not finish" ;;
esac
healthy() { if [[ "$MODE" == docker ]]; then docker_health; else k8s_health; fi; }
for ((i = 1; i <= RETRIES; i++)); do
  if healthy; then log "healthy: $TAG"; exit 0; fi
  ((i < RETRIES)) && sleep "$INTERVAL"
done
undo "health check failed $RETRIES times"
