#!/usr/bin/env bash
# pipeline.sh: build, test in the image, deploy (docker or k8s), wait, check health, undo on failure.
set -euo pipefail

MODE=docker IMAGE=ml-model CONTEXT=. TEST_CMD="python -m pytest -q" NAME=ml-model PORT=8000
NAMESPACE=default CONTAINER='' KIND_CLUSTER='' ROLLOUT_TIMEOUT=120 RETRIES=10 INTERVAL=1 TIMEOUT=5
STEP_TIMEOUT=600 DOCKER=${DOCKER:-docker} KUBECTL=${KUBECTL:-kubectl} KIND=${KIND:-kind}
BUILD_ARGS=() LABELS=() VERSION=''

usage() {
  cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V  --test-cmd CMD  --name NAME
  --port PORT  --label K=V  --namespace NS  --container NAME  --kind-cluster NAME
  --rollout-timeout S  --retries N  --interval S  --timeout S  --step-timeout S
  --docker PATH  --kubectl PATH  --kind PATH  -h|--help
USAGE
}
die_usage() { echo "pipeline.sh: $1" >&2; usage >&2; exit 2; }
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$1] ${*:2}"; }

while (($# > 0)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --*)
      opt=$1
      case $opt in
        --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
        --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind) ;;
        *) die_usage "unknown option: $opt" ;;
      esac
      (($# >= 2)) || die_usage "$opt needs a value"
      val=$2
      shift 2
      case $opt in
        --mode) MODE=$val ;; --image) IMAGE=$val ;; --context) CONTEXT=$val ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$val") ;; --test-cmd) TEST_CMD=$val ;;
        --name) NAME=$val ;; --port) PORT=$val ;; --label) LABELS+=(--label "$val") ;;
        --namespace) NAMESPACE=$val ;; --container) CONTAINER=$val ;; --kind-cluster) KIND_CLUSTER=$val ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$val ;; --retries) RETRIES=$val ;; --interval) INTERVAL=$val ;;
        --timeout) TIMEOUT=$val ;; --step-timeout) STEP_TIMEOUT=$val ;; --docker) DOCKER=$val ;;
        --kubectl) KUBECTL=$val ;; --kind) KIND=$val ;;
      esac ;;
    *) [[ -z $VERSION ]] || die_usage "exactly one VERSION"; VERSION=$1; shift ;;
  esac
done

posint() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }  # <= 18 digits: longer wraps round at 64 bits
posnum() { [[ $1 =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]] && ! [[ $1 =~ ^[0.]+$ ]]; }
[[ -n $VERSION ]] || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
[[ $MODE == docker || $MODE == k8s ]] || die_usage "--mode must be docker or k8s"
if ! [[ "$PORT" =~ ^0*[0-9]{1,5}$ ]] || ! posint "$PORT" || ((10#$PORT > 65535)); then die_usage "bad --port"; fi
posint "$RETRIES" || die_usage "bad --retries"
posint "$ROLLOUT_TIMEOUT" || die_usage "bad --rollout-timeout (whole seconds)"
posnum "$INTERVAL" || die_usage "bad --interval"
posnum "$TIMEOUT" || die_usage "bad --timeout"
posnum "$STEP_TIMEOUT" || die_usage "bad --step-timeout"
# whole numbers are decimal: a leading zero is not octal (010 is ten)
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
REF="$IMAGE:$VERSION"
PREVIOUS_IMAGE=

step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
kc() { step "$KUBECTL" --namespace "$NAMESPACE" "$@"; }
rollout_wait() { timeout $((ROLLOUT_TIMEOUT + 30)) "$KUBECTL" --namespace "$NAMESPACE" rollout status "deployment/$NAME" --timeout="${ROLLOUT_TIMEOUT}s" >&2; }

undo() {
  log ERROR "undoing the deploy of $REF: $1"
  if [[ $MODE == docker ]]; then
    step "$DOCKER" rm --force "$NAME" || log ERROR "could not remove $NAME"
    if [[ -n $PREVIOUS_IMAGE ]]; then
      step "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS_IMAGE" \
        || log ERROR "could not bring back $PREVIOUS_IMAGE"
    fi
  else
    kc rollout undo "deployment/$NAME" || log ERROR "rollout undo failed"
    rollout_wait || log ERROR "the undo did not finish"
  fi
  exit 1
}

health_once() {
  if [[ $MODE == docker ]]; then
    [[ $(curl --silent --output /dev/null --write-out '%{http_code}' --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" || true) == 200 ]]
  else
    timeout "$TIMEOUT" "$KUBECTL" --namespace "$NAMESPACE" get --raw \
      "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null 2>&1
  fi
}

healthy() {
  local i
  for ((i = 1; i <= RETRIES; i++)); do
    if health_once; then log INFO "healthy after $i check(s)"; return 0; fi
    log WARN "health check $i/$RETRIES failed"
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log INFO "building $REF"
step "$DOCKER" build --tag "$REF" "${BUILD_ARGS[@]}" "$CONTEXT" || { log ERROR "build failed"; exit 1; }
log INFO "testing inside $REF"
step "$DOCKER" run --rm "${LABELS[@]}" "$REF" sh -c "$TEST_CMD" || { log ERROR "tests failed: nothing deployed"; exit 1; }

if [[ $MODE == docker ]]; then
  PREVIOUS_IMAGE=$(timeout "$STEP_TIMEOUT" "$DOCKER" inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null) || PREVIOUS_IMAGE=
  log INFO "deploying $REF as $NAME (previous: ${PREVIOUS_IMAGE:-none})"
  step "$DOCKER" rm --force "$NAME" || true
  step "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$REF" || undo "docker run failed"
  started=${EPOCHREALTIME/./}
  until STATUS=$(timeout "$STEP_TIMEOUT" "$DOCKER" inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || true)
    [[ $STATUS == running ]]; do
    [[ $STATUS != exited && $STATUS != dead ]] || undo "$NAME $STATUS"
    (((${EPOCHREALTIME/./} - started) / 1000000 < ROLLOUT_TIMEOUT)) || undo "$NAME is not running after ${ROLLOUT_TIMEOUT}s"
    sleep 0.5
  done
else
  if [[ -n $KIND_CLUSTER ]]; then
    step "$KIND" load docker-image "$REF" --name "$KIND_CLUSTER" || { log ERROR "kind load failed"; exit 1; }
  fi
  log INFO "setting deployment/$NAME $CONTAINER=$REF"
  kc set image "deployment/$NAME" "$CONTAINER=$REF" || undo "set image failed"
  rollout_wait || undo "the rollout did not finish in ${ROLLOUT_TIMEOUT}s"
fi
healthy || undo "never healthy"
log INFO "$REF deployed and healthy"
