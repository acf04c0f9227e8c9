#!/usr/bin/env bash
#
# pipeline.sh: build a model-server image, run its tests inside it, deploy it, wait for the
# rollout, check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s      where to deploy (default docker)
  --image NAME           image repository; builds NAME:VERSION (default ml-model)
  --context DIR          docker build context (default .)
  --build-arg K=V        passed to docker build (repeatable)
  --test-cmd CMD         run with `sh -c` in the new image; must exit 0 (default "python -m pytest -q")
  --name NAME            docker: the container; k8s: the Deployment and its Service (default ml-model)
  --port PORT            docker: host port on 127.0.0.1; k8s: the Service port (default 8000)
  --label K=V            docker: put on every container the pipeline starts (repeatable)
  --namespace NS         k8s: the namespace (default default)
  --container NAME       k8s: the pod template's container to update (default: --name)
  --kind-cluster NAME    k8s: load the image into this kind cluster before deploying
  --rollout-timeout S    whole seconds a rollout may take (default 120)
  --retries N            health checks before giving up (default 10)
  --interval S           pause between health checks (default 1)
  --timeout S            limit for one health request (default 5)
  --step-timeout S       limit for every other docker, kubectl and kind command (default 600)
  --docker PATH          docker binary (default docker, env DOCKER)
  --kubectl PATH         kubectl binary (default kubectl, env KUBECTL)
  --kind PATH            kind binary (default kind, env KIND)
  -h, --help             print the usage on stdout, exit 0
USAGE
}

die_usage() {
  printf 'pipeline.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

MODE=docker
IMAGE=ml-model
CONTEXT=.
TEST_CMD="python -m pytest -q"
NAME=ml-model
PORT=8000
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
BUILD_ARGS=()
LABELS=()
POSITIONAL=()
PREVIOUS_IMAGE=""

while (($# > 0)); do
  opt="$1"
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --) shift; POSITIONAL+=("$@"); break ;;
    --*=*) value="${opt#*=}"; opt="${opt%%=*}"; shift; set -- "$opt" "$value" "$@"; continue ;;
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# >= 2)) || die_usage "$opt needs a value"
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
    -*) die_usage "unknown option $opt" ;;
    *) POSITIONAL+=("$opt"); shift ;;
  esac
done

# Whole positive number, at most 18 significant digits; prints it in decimal.
whole() {
  local text="$1" digits
  [[ "$text" =~ ^[0-9]+$ ]] || return 1
  digits="${text#"${text%%[!0]*}"}"
  [[ -n "$digits" && ${#digits} -le 18 ]] || return 1
  printf '%s' "$((10#$digits))"
}

positive_number() {
  [[ "$1" =~ ^([0-9]+(\.[0-9]+)?|\.[0-9]+)$ && "$1" == *[1-9]* ]]
}

((${#POSITIONAL[@]} == 1)) || die_usage "expected exactly one VERSION"
VERSION="${POSITIONAL[0]}"
ALNUM=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
TAG_RE="^[${ALNUM}_][${ALNUM}_.-]{0,127}\$"
[[ "$VERSION" =~ $TAG_RE ]] || die_usage "VERSION is not a valid image tag: $VERSION"
case "$MODE" in docker|k8s) ;; *) die_usage "--mode must be docker or k8s" ;; esac
PORT="$(whole "$PORT")" || die_usage "--port must be 1-65535"
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535"
RETRIES="$(whole "$RETRIES")" || die_usage "--retries must be a positive integer"
((RETRIES >= 1)) || die_usage "--retries must be a positive integer"
ROLLOUT_TIMEOUT="$(whole "$ROLLOUT_TIMEOUT")" || die_usage "--rollout-timeout must be a positive integer"
((ROLLOUT_TIMEOUT >= 1)) || die_usage "--rollout-timeout must be a positive integer"
positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
[[ -n "$CONTAINER" ]] || CONTAINER="$NAME"

TAGGED="$IMAGE:$VERSION"
ROLLOUT_LIMIT=$((ROLLOUT_TIMEOUT + 30))

step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
kube() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_wait() {
  timeout "$ROLLOUT_LIMIT" "$KUBECTL_BIN" --namespace "$NAMESPACE" rollout status "deployment/$NAME" \
    --timeout="${ROLLOUT_TIMEOUT}s" >&2
}

undo() {
  log "deploy failed: $1; undoing"
  case "$MODE" in
    docker)
      step "$DOCKER_BIN" rm --force "$NAME" || log "undo: docker rm --force $NAME failed"
      if [[ -n "$PREVIOUS_IMAGE" ]]; then
        step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$PREVIOUS_IMAGE" \
          || log "undo: could not start $PREVIOUS_IMAGE again"
      else
        log "undo: no previous version to bring back"
      fi
      ;;
    k8s)
      if kube rollout undo "deployment/$NAME"; then
        rollout_wait || log "undo: the rollback did not finish"
      else
        log "undo: kubectl rollout undo failed"
      fi
      ;;
  esac
  exit 1
}

now_us() { printf '%s' "${EPOCHREALTIME/./}"; }

docker_deploy() {
  local started status
  PREVIOUS_IMAGE="$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$NAME")" || PREVIOUS_IMAGE=""
  log "previous image: ${PREVIOUS_IMAGE:-none}"
  step "$DOCKER_BIN" rm --force "$NAME" || log "no container $NAME to remove"
  started="$(now_us)"
  step "$DOCKER_BIN" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$TAGGED" || return 1
  while true; do
    status="$(timeout "$STEP_TIMEOUT" "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$NAME")" || status=""
    case "$status" in
      running) return 0 ;;
      exited|dead) log "container $NAME $status"; return 1 ;;
    esac
    if (( ($(now_us) - started) / 1000000 >= ROLLOUT_TIMEOUT )); then
      log "container $NAME not running after ${ROLLOUT_TIMEOUT}s"
      return 1
    fi
    sleep 0.2
  done
}

k8s_deploy() {
  kube set image "deployment/$NAME" "$CONTAINER=$TAGGED" || return 1
  rollout_wait || return 1
}

health_once() {
  case "$MODE" in
    docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
    k8s) timeout "$TIMEOUT" "$KUBECTL_BIN" --namespace "$NAMESPACE" get --raw \
           "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" >/dev/null ;;
  esac
}

healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if health_once; then
      log "healthy at check $attempt"
      return 0
    fi
    log "health check $attempt of $RETRIES failed"
    ((attempt < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

log "building $TAGGED"
step "$DOCKER_BIN" build --tag "$TAGGED" "${BUILD_ARGS[@]}" "$CONTEXT" || { log "build failed"; exit 1; }
log "testing $TAGGED"
step "$DOCKER_BIN" run --rm "${LABELS[@]}" "$TAGGED" sh -c "$TEST_CMD" || { log "tests failed"; exit 1; }
if [[ "$MODE" == k8s && -n "$KIND_CLUSTER" ]]; then
  step "$KIND_BIN" load docker-image "$TAGGED" --name "$KIND_CLUSTER" || { log "kind load failed"; exit 1; }
fi
case "$MODE" in
  docker) docker_deploy || undo "the new container did not start" ;;
  k8s) k8s_deploy || undo "the rollout failed" ;;
esac
healthy || undo "the health check failed"
log "deployed $TAGGED"
