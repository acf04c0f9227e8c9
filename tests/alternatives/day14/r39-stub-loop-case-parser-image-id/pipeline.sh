#!/usr/bin/env bash
#
# pipeline.sh: build a model-server image, run its tests inside it, deploy it, wait for the
# rollout, check its health, and undo the deploy when the rollout or the health check fails.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -euo pipefail
export LC_ALL=C

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

usage_error() {
  echo "pipeline.sh: $*" >&2
  usage >&2
  exit 2
}

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- settings: defaults only (nothing but the tool binaries comes from the environment) ---
mode=docker
image=ml-model
context=.
test_cmd="python -m pytest -q"
name=ml-model
port=8000
namespace=default
container=""
kind_cluster=""
rollout_timeout=120
retries=10
interval=1
health_timeout=5
step_timeout=600
docker_bin="${DOCKER:-docker}"
kubectl_bin="${KUBECTL:-kubectl}"
kind_bin="${KIND:-kind}"
build_args=()
label_args=()
previous_image=""
version=""
have_version=0

# -h/--help anywhere among the options wins.
value_options=" --mode --image --context --build-arg --test-cmd --name --port --label --namespace --container \
--kind-cluster --rollout-timeout --retries --interval --timeout --step-timeout --docker --kubectl --kind "
skip=0
for arg in "$@"; do
  if ((skip)); then skip=0; continue; fi
  case "$arg" in
    -h|--help) usage; exit 0 ;;
  esac
  if [[ "$value_options" == *" $arg "* ]]; then skip=1; fi
done

while (($# > 0)); do
  option="$1"
  case "$option" in
    --mode|--image|--context|--build-arg|--test-cmd|--name|--port|--label|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($# >= 2)) || usage_error "$option needs a value"
      value="$2"
      shift 2
      case "$option" in
        --mode) mode="$value" ;;
        --image) image="$value" ;;
        --context) context="$value" ;;
        --build-arg) build_args+=(--build-arg "$value") ;;
        --test-cmd) test_cmd="$value" ;;
        --name) name="$value" ;;
        --port) port="$value" ;;
        --label) label_args+=(--label "$value") ;;
        --namespace) namespace="$value" ;;
        --container) container="$value" ;;
        --kind-cluster) kind_cluster="$value" ;;
        --rollout-timeout) rollout_timeout="$value" ;;
        --retries) retries="$value" ;;
        --interval) interval="$value" ;;
        --timeout) health_timeout="$value" ;;
        --step-timeout) step_timeout="$value" ;;
        --docker) docker_bin="$value" ;;
        --kubectl) kubectl_bin="$value" ;;
        --kind) kind_bin="$value" ;;
      esac
      ;;
    -*) usage_error "unknown option $option" ;;
    *)
      ((have_version == 0)) || usage_error "exactly one VERSION, got another: $option"
      version="$option"
      have_version=1
      shift
      ;;
  esac
done

# A whole number >= 1 with at most 18 significant digits, printed in decimal (leading zeros are not octal).
whole() {
  local text="$1" digits
  [[ "$text" =~ ^[0-9]+$ ]] || return 1
  digits="${text#"${text%%[!0]*}"}"
  [[ -n "$digits" && ${#digits} -le 18 ]] || return 1
  printf '%s' "$((10#$digits))"
}

# A positive decimal number (2, 0.5, .5): no words, no inf, no bare dot.
positive_number() {
  [[ "$1" =~ ^([0-9]+(\.[0-9]+)?|\.[0-9]+)$ && "$1" =~ [1-9] ]]
}

((have_version)) || usage_error "VERSION is missing"
[[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "VERSION is not a valid image tag: $version"
case "$mode" in docker|k8s) ;; *) usage_error "--mode must be docker or k8s, got $mode" ;; esac
port=$(whole "$port") || usage_error "--port must be 1-65535"
((port <= 65535)) || usage_error "--port must be 1-65535"
retries=$(whole "$retries") || usage_error "--retries must be a positive whole number"
rollout_timeout=$(whole "$rollout_timeout") || usage_error "--rollout-timeout must be a positive whole number"
positive_number "$interval" || usage_error "--interval must be a positive number"
positive_number "$health_timeout" || usage_error "--timeout must be a positive number"
positive_number "$step_timeout" || usage_error "--step-timeout must be a positive number"
[[ -n "$container" ]] || container="$name"

target="$image:$version"
rollout_limit=$((rollout_timeout + 30))

# Every docker, kubectl and kind command runs under a time limit; its output goes to the log (stderr).
step() { timeout "$step_timeout" "$@"; }

now_us() { local t="$EPOCHREALTIME"; printf '%s' "${t/./}"; }

# --- docker mode ---
docker_wait_running() {
  local deadline=$1 status
  while :; do
    status=$(step "$docker_bin" inspect --format '{{.State.Status}}' "$name" 2>/dev/null) || status=""
    case "$status" in
      running) return 0 ;;
      exited|dead) log "container $name $status"; return 1 ;;
    esac
    if (($(now_us) >= deadline)); then
      log "container $name not running within ${rollout_timeout}s (status: ${status:-unknown})"
      return 1
    fi
    sleep 0.2
  done
}

docker_deploy() {
  local found deadline
  if found=$(step "$docker_bin" inspect --format '{{.Image}}' "$name" 2>/dev/null) && [[ -n "$found" ]]; then
    previous_image="$found"
    log "container $name runs $previous_image"
  else
    log "no container $name runs now"
  fi
  step "$docker_bin" rm --force "$name" >&2 || log "could not remove $name"
  deadline=$(($(now_us) + rollout_timeout * 1000000))
  step "$docker_bin" run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${label_args[@]}" "$target" >&2 \
    || return 1
  docker_wait_running "$deadline" || return 1
}

docker_undo() {
  step "$docker_bin" rm --force "$name" >&2 || log "undo: could not remove $name"
  if [[ -n "$previous_image" ]]; then
    step "$docker_bin" run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${label_args[@]}" \
      "$previous_image" >&2 || { log "undo: could not start $previous_image again"; return 1; }
  else
    log "undo: no previous version to bring back"
  fi
}

docker_health() {
  curl --fail --silent --show-error --max-time "$health_timeout" "http://127.0.0.1:$port/health" >/dev/null
}

# --- k8s mode ---
k8s_deploy() {
  step "$kubectl_bin" --namespace "$namespace" set image "deployment/$name" "$container=$target" >&2 || return 1
  timeout "$rollout_limit" "$kubectl_bin" --namespace "$namespace" rollout status "deployment/$name" \
    "--timeout=${rollout_timeout}s" >&2 || return 1
}

k8s_undo() {
  step "$kubectl_bin" --namespace "$namespace" rollout undo "deployment/$name" >&2 || return 1
  timeout "$rollout_limit" "$kubectl_bin" --namespace "$namespace" rollout status "deployment/$name" \
    "--timeout=${rollout_timeout}s" >&2 || return 1
}

k8s_health() {
  timeout "$health_timeout" "$kubectl_bin" --namespace "$namespace" get \
    --raw "/api/v1/namespaces/$namespace/services/$name:$port/proxy/health" >/dev/null
}

healthy() {
  local attempt
  for ((attempt = 1; attempt <= retries; attempt++)); do
    case "$mode" in
      docker) docker_health && return 0 ;;
      k8s) k8s_health && return 0 ;;
    esac
    log "health check $attempt/$retries failed"
    ((attempt < retries)) && sleep "$interval"
  done
  return 1
}

undo() {
  log "undo: $*"
  local ok=0
  case "$mode" in
    docker) docker_undo || ok=1 ;;
    k8s) k8s_undo || ok=1 ;;
  esac
  ((ok == 0)) || log "undo FAILED: the previous version may not be serving"
  exit 1
}

# --- the pipeline ---
log "building $target"
step "$docker_bin" build --tag "$target" "${build_args[@]}" "$context" >&2 || die "docker build failed"
log "testing $target"
step "$docker_bin" run --rm "${label_args[@]}" "$target" sh -c "$test_cmd" >&2 || die "tests failed in $target"

if [[ "$mode" == k8s && -n "$kind_cluster" ]]; then
  step "$kind_bin" load docker-image "$target" --name "$kind_cluster" >&2 || die "kind load failed (nothing deployed)"
fi

log "deploying $target ($mode)"
case "$mode" in
  docker) docker_deploy ;;
  k8s) k8s_deploy ;;
esac || undo "the deploy or rollout of $target failed"

healthy || undo "$target is not healthy after $retries checks"
log "$target deployed and healthy"
