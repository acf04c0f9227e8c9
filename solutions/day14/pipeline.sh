#!/usr/bin/env bash
# Build a model-server image, run its tests inside it, deploy it, wait for the rollout,
# check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail

DOCKER="${DOCKER:-docker}"
KUBECTL="${KUBECTL:-kubectl}"
KIND="${KIND:-kind}"
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
BUILD_ARGS=()
LABELS=()
VERSION=""

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
  -h, --help             print this and exit 0
USAGE
}

die_usage() {
  echo "pipeline.sh: $*" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! $1 =~ ^0*\.?0*$ ]]; }
# At most 18 digits (leading zeros aside): bash arithmetic would wrap a longer number round at 64 bits.
is_positive_integer() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }
is_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

while (($# > 0)); do
  case $1 in
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | --namespace | \
      --container | --kind-cluster | --rollout-timeout | --retries | --interval | --timeout | \
      --step-timeout | --docker | --kubectl | --kind)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --mode) MODE=$2 ;;
        --image) IMAGE=$2 ;;
        --context) CONTEXT=$2 ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --test-cmd) TEST_CMD=$2 ;;
        --name) NAME=$2 ;;
        --port) PORT=$2 ;;
        --label) LABELS+=(--label "$2") ;;
        --namespace) NAMESPACE=$2 ;;
        --container) CONTAINER=$2 ;;
        --kind-cluster) KIND_CLUSTER=$2 ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$2 ;;
        --retries) RETRIES=$2 ;;
        --interval) INTERVAL=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --step-timeout) STEP_TIMEOUT=$2 ;;
        --docker) DOCKER=$2 ;;
        --kubectl) KUBECTL=$2 ;;
        --kind) KIND=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    -*) die_usage "unknown option: $1" ;;
    *)
      [[ -z $VERSION ]] || die_usage "only one VERSION, got '$VERSION' and '$1'"
      VERSION=$1
      shift
      ;;
  esac
done

[[ -n $VERSION ]] || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "'$VERSION' is not a valid image tag"
[[ $MODE == docker || $MODE == k8s ]] || die_usage "--mode must be docker or k8s, not '$MODE'"
[[ $IMAGE =~ ^[a-z0-9][a-z0-9._/:-]*$ ]] || die_usage "'$IMAGE' is not a valid image repository"
[[ $NAME =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die_usage "'$NAME' is not a valid name (lower case, digits, '-', '.')"
[[ -n $TEST_CMD ]] || die_usage "--test-cmd must not be empty"
is_port "$PORT" || die_usage "--port must be 1-65535, not '$PORT'"
is_positive_integer "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be whole seconds > 0, not '$ROLLOUT_TIMEOUT'"
is_positive_integer "$RETRIES" || die_usage "--retries must be a positive integer, not '$RETRIES'"
is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number of seconds, not '$INTERVAL'"
is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds, not '$TIMEOUT'"
is_positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number of seconds, not '$STEP_TIMEOUT'"
# Whole numbers are decimal: bash arithmetic would read a leading zero as octal (010 is 8, 08 an error).
PORT=$((10#$PORT)) RETRIES=$((10#$RETRIES)) ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"

# Every command is bounded; a tool's own output goes to stderr so stdout holds only our log.
step() { timeout "$STEP_TIMEOUT" "$@" >&2; }
ask() { timeout "$STEP_TIMEOUT" "$@" 2>/dev/null; }
kube() { step "$KUBECTL" --namespace "$NAMESPACE" "$@"; }
rollout_wait() { timeout "$((ROLLOUT_TIMEOUT + 15))" "$KUBECTL" --namespace "$NAMESPACE" rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s" >&2; }

# --- docker mode: one container NAME on 127.0.0.1:PORT; undo = run the previous image again ---

PREVIOUS_IMAGE=""

run_container() {
  step "$DOCKER" run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" ${LABELS[@]+"${LABELS[@]}"} "$1"
}

docker_deploy() {
  PREVIOUS_IMAGE=$(ask "$DOCKER" inspect --format '{{.Config.Image}}' "$NAME") || PREVIOUS_IMAGE=""
  log INFO "deploy container=$NAME image=$TAG previous=${PREVIOUS_IMAGE:-none}"
  # Whether or not the inspect found an image: a failed or cut-off inspect does not mean no container holds the name,
  # and a forced rm of a missing container fails harmlessly.
  step "$DOCKER" rm --force "$NAME" || true
  run_container "$TAG"
}

docker_rollout_wait() {
  # Microseconds since the docker run ($SECONDS ticks in whole seconds and could cut the wait to almost nothing);
  # elapsed time is compared, never start + timeout * 1000000, which would wrap round for an 18-digit timeout.
  # The deadline is checked before each check: after a pause past it, a container running now ran too late.
  local started=${EPOCHREALTIME/./} status
  while (((${EPOCHREALTIME/./} - started) / 1000000 < ROLLOUT_TIMEOUT)); do
    status=$(ask "$DOCKER" inspect --format '{{.State.Status}}' "$NAME") || status=""
    [[ $status == running ]] && return 0
    [[ $status == exited || $status == dead ]] && return 1
    sleep "$INTERVAL"
  done
  return 1
}

docker_health() {
  curl --silent --fail --output /dev/null --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health"
}

docker_undo() {
  step "$DOCKER" rm --force "$NAME" || log ERROR "could not remove the failed container $NAME"
  if [[ -n $PREVIOUS_IMAGE ]]; then
    run_container "$PREVIOUS_IMAGE" || { log ERROR "could not restart $PREVIOUS_IMAGE; nothing is serving"; return 1; }
  fi
}

# --- k8s mode: the Deployment NAME keeps a revision history; undo = kubectl rollout undo -------

k8s_deploy() {
  if [[ -n $KIND_CLUSTER ]]; then
    log INFO "load image=$TAG kind-cluster=$KIND_CLUSTER"
    # Not `|| return 1`: the caller would undo, and a rollout undo of an unchanged Deployment rolls
    # back the version serving now. A failed load deployed nothing.
    step "$KIND" load docker-image "$TAG" --name "$KIND_CLUSTER" || { log ERROR "kind load failed; nothing deployed"; exit 1; }
  fi
  log INFO "deploy deployment=$NAME namespace=$NAMESPACE image=$TAG"
  kube set image "deployment/$NAME" "$CONTAINER=$TAG"
}

k8s_health() {
  step "$KUBECTL" get --raw "/api/v1/namespaces/$NAMESPACE/services/$NAME:$PORT/proxy/health" \
    "--request-timeout=${TIMEOUT}s" >/dev/null 2>&1
}

k8s_rollout_wait() { rollout_wait; }

k8s_undo() {
  kube rollout undo "deployment/$NAME" && rollout_wait
}

# --- the pipeline ----------------------------------------------------------------------------

healthy() {
  local attempt
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if "${MODE}_health"; then
      log INFO "health ok version=$VERSION attempt=$attempt"
      return 0
    fi
    log WARN "health not ok version=$VERSION attempt=$attempt"
    ((attempt == RETRIES)) || sleep "$INTERVAL"
  done
  return 1
}

undo() {
  log ERROR "undoing the deploy of version=$VERSION reason=$1"
  if "${MODE}_undo"; then
    log INFO "undo done"
  else
    log ERROR "undo failed; check the service by hand"
  fi
  exit 1
}

log INFO "build image=$TAG context=$CONTEXT"
step "$DOCKER" build --tag "$TAG" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} "$CONTEXT" || { log ERROR "build failed"; exit 1; }

log INFO "test image=$TAG command=$TEST_CMD"
step "$DOCKER" run --rm ${LABELS[@]+"${LABELS[@]}"} "$TAG" sh -c "$TEST_CMD" || { log ERROR "tests failed in the image; nothing deployed"; exit 1; }

"${MODE}_deploy" || undo "the deploy command failed"
"${MODE}_rollout_wait" || undo "the rollout did not finish within ${ROLLOUT_TIMEOUT}s"
healthy || undo "not healthy after $RETRIES checks"
log INFO "deployed version=$VERSION mode=$MODE"
