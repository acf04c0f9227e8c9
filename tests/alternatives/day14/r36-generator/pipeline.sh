#!/usr/bin/env bash
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
HELP=0
ERROR=""

need_value() {
  if (($# < 2)); then
    ERROR="${ERROR:-option $1 needs a value}"
    return 1
  fi
}

while (($# > 0)); do
  opt=$1
  case "$opt" in
    -h | --help) HELP=1; shift; continue ;;
    --) shift; POSITIONAL+=("$@"); break ;;
    --mode | --image | --context | --build-arg | --test-cmd | --name | --port | --label | \
      --namespace | --container | --kind-cluster | --rollout-timeout | --retries | --interval | \
      --timeout | --step-timeout | --docker | --kubectl | --kind)
      need_value "$@" || break
      value=$2
      shift 2
      case "$opt" in
        --mode) MODE=$value ;;
        --image) IMAGE=$value ;;
        --context) CONTEXT=$value ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$value") ;;
        --test-cmd) TEST_CMD=$value ;;
        --name) NAME=$value ;;
        --port) PORT=$value ;;
        --label) LABELS+=(--label "$value") ;;
        --namespace) NAMESPACE=$value ;;
        --container) CONTAINER=$value ;;
        --kind-cluster) KIND_CLUSTER=$value ;;
        --rollout-timeout) ROLLOUT_TIMEOUT=$value ;;
        --retries) RETRIES=$value ;;
        --interval) INTERVAL=$value ;;
        --timeout) TIMEOUT=$value ;;
        --step-timeout) STEP_TIMEOUT=$value ;;
        --docker) DOCKER_BIN=$value ;;
        --kubectl) KUBECTL_BIN=$value ;;
        --kind) KIND_BIN=$value ;;
      esac
      ;;
    -?*) ERROR="${ERROR:-unknown option $opt}"; shift ;;
    *) POSITIONAL+=("$opt"); shift ;;
  esac
done

if ((HELP)); then
  usage
  exit 0
fi
[[ -z $ERROR ]] || die_usage "$ERROR"

is_count() { # decimal positive integer, at most 18 significant digits
  local v=$1
  [[ $v =~ ^[0-9]+$ ]] || return 1
  v=${v#"${v%%[!0]*}"}
  [[ -n $v && ${#v} -le 18 ]]
}
is_positive_number() {
  [[ $1 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ && $1 =~ [1-9] ]]
}

((${#POSITIONAL[@]} == 1)) || die_usage "exactly one VERSION is required"
VERSION=${POSITIONAL[0]}
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "invalid VERSION tag: $VERSION"
[[ $MODE == docker || $MODE == k8s ]] || die_usage "--mode must be docker or k8s"
{ is_count "$PORT" && ((10#$PORT <= 65535)); } || die_usage "--port must be 1-65535"
is_count "$RETRIES" || die_usage "--retries must be a positive integer"
is_count "$ROLLOUT_TIMEOUT" || die_usage "--rollout-timeout must be a positive integer"
is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number"
is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number"
is_positive_number "$STEP_TIMEOUT" || die_usage "--step-timeout must be a positive number"
PORT=$((10#$PORT))
RETRIES=$((10#$RETRIES))
ROLLOUT_TIMEOUT=$((10#$ROLLOUT_TIMEOUT))
CONTAINER=${CONTAINER:-$NAME}
TAG="$IMAGE:$VERSION"
ROLLOUT_GUARD=$((ROLLOUT_TIMEOUT + 30))

step() { timeout "$STEP_TIMEOUT" "$@"; }
docker_() { step "$DOCKER_BIN" "$@"; }
kube() { step "$KUBECTL_BIN" --namespace "$NAMESPACE" "$@"; }
rollout_status() {
  timeout "$ROLLOUT_GUARD" "$KUBECTL_BIN" --namespace "$NAMESPACE" \
    rollout status "deployment/$NAME" "--timeout=${ROLLOUT_TIMEOUT}s" >&2
}
now_ms() { date +%s%3N; }

run_detached() { # image
  docker_ run --detach --name "$NAME" --publish "127.0.0.1:$PORT:8000" \
    "${LABELS[@]+"${LABELS[@]}"}" "$1" >&2
}

undo() {
  log "deploy of $TAG failed: $1; undoing"
  case "$MODE" in
    docker)
      docker_ rm --force "$NAME" >&2 || log "could not remove container $NAME"
      if [[ -n $PREVIOUS_IMAGE ]]; then
        run_detached "$PREVIOUS_IMAGE" || log "undo failed: could not restart $PREVIOUS_IMAGE"
      else
        log "no previous container to bring back"
      fi
      ;;
    k8s)
      if kube rollout undo "deployment/$NAME" >&2; then
        rollout_status || log "undo failed: rollback of deployment/$NAME did not finish"
      else
        log "undo failed: kubectl rollout undo deployment/$NAME"
      fi
      ;;
  esac
  exit 1
}

docker_deploy() {
  local out
  if out=$(docker_ inspect --format '{{.Config.Image}}' "$NAME" 2>/dev/null); then
    PREVIOUS_IMAGE=$out
    log "container $NAME runs $PREVIOUS_IMAGE"
  fi
  docker_ rm --force "$NAME" >/dev/null 2>&1 || true
  local start deadline cap=$((10 ** 12)) status
  start=$(now_ms)
  deadline=$((start + (ROLLOUT_TIMEOUT > cap ? cap : ROLLOUT_TIMEOUT) * 1000))
  run_detached "$TAG" || undo "docker run failed"
  while :; do
    status=$(docker_ inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null) || status=""
    case "$status" in
      running) break ;;
      exited | dead) undo "container $NAME $status" ;;
    esac
    (($(now_ms) < deadline)) || undo "container $NAME not running after ${ROLLOUT_TIMEOUT}s"
    sleep 0.2
  done
}

health_once() {
  case "$MODE" in
    docker) curl --fail --silent --show-error --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health" >/dev/null ;;
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
    log "health check $i/$RETRIES failed"
    ((i < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

log "building $TAG"
docker_ build --tag "$TAG" "${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"}" "$CONTEXT" >&2 || { log "build failed"; exit 1; }
log "testing $TAG"
docker_ run --rm "${LABELS[@]+"${LABELS[@]}"}" "$TAG" sh -c "$TEST_CMD" >&2 || { log "tests failed; nothing deployed"; exit 1; }

case "$MODE" in
  docker)
    docker_deploy
    ;;
  k8s)
    if [[ -n $KIND_CLUSTER ]]; then
      step "$KIND_BIN" load docker-image "$TAG" --name "$KIND_CLUSTER" >&2 || { log "kind load failed; nothing deployed"; exit 1; }
    fi
    kube set image "deployment/$NAME" "$CONTAINER=$TAG" >&2 || undo "set image failed"
    rollout_status || undo "rollout did not finish in ${ROLLOUT_TIMEOUT}s"
    ;;
esac

healthy || undo "health check failed $RETRIES times"
log "$TAG deployed and healthy"
