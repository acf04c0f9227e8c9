#!/usr/bin/env bash
# pipeline.sh — build, test inside the image, deploy (docker or k8s), wait, health-check, roll back on failure.
# Exit codes: 0 deployed and healthy, 1 a step failed (a failed deploy was undone), 2 usage error.
set -Eeuo pipefail
shopt -s extglob

print_usage() {
  cat <<'TXT'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V (repeatable)  --test-cmd CMD
  --name NAME  --port PORT  --label K=V (repeatable)  --namespace NS  --container NAME
  --kind-cluster NAME  --rollout-timeout S  --retries N  --interval S  --timeout S  --step-timeout S
  --docker PATH  --kubectl PATH  --kind PATH  -h, --help
Defaults: docker mode, image ml-model, context ., test "python -m pytest -q", name ml-model, port 8000,
namespace default, rollout-timeout 120, retries 10, interval 1, timeout 5, step-timeout 600.
TXT
}
bad() { printf 'pipeline.sh: %s\n' "$*" >&2; print_usage >&2; exit 2; }
say() { printf '%s pipeline: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
positional=()

while (($#)); do
  arg=$1
  shift
  case $arg in
    -h|--help) print_usage; exit 0 ;;
    --*=*) key=${arg%%=*}; set -- "${arg#*=}" "$@"; arg=$key ;;
  esac
  case $arg in
    --build-arg|--label|--mode|--image|--context|--test-cmd|--name|--port|--namespace|--container|--kind-cluster|\
    --rollout-timeout|--retries|--interval|--timeout|--step-timeout|--docker|--kubectl|--kind)
      (($#)) || bad "$arg needs a value"
      case $arg in
        --build-arg) build_args+=("--build-arg=$1") ;;
        --label) labels+=("--label=$1") ;;
        *) opt[${arg#--}]=$1 ;;
      esac
      shift
      ;;
    -*) bad "unknown option: $arg" ;;
    *) positional+=("$arg") ;;
  esac
done

((${#positional[@]} == 1)) || bad "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
case $version in
  [A-Za-z0-9_]*([A-Za-z0-9_.-])) ((${#version} <= 128)) || bad "tag too long" ;;
  *) bad "not an image tag: $version" ;;
esac
case ${opt[mode]} in docker|k8s) ;; *) bad "--mode is docker or k8s" ;; esac

int_opt() {  # int_opt KEY MAX: a decimal integer 1..MAX, stored without leading zeros
  local v=${opt[$1]}
  case $v in +([0-9])) ;; *) bad "--$1 must be a whole number" ;; esac
  v=${v##+(0)}
  if [[ -z $v || ${#v} -gt ${#2} ]] || (( 10#$v > $2 )); then bad "--$1 out of range: ${opt[$1]}"; fi
  opt[$1]=$((10#$v))
}
num_opt() {
  case ${opt[$1]} in
    +([0-9])?(.*([0-9]))|.+([0-9])) ;;
    *) bad "--$1 must be a number" ;;
  esac
  case ${opt[$1]} in *[1-9]*) ;; *) bad "--$1 must be above zero" ;; esac
}
int_opt port 65535
int_opt retries 999999999999999999
int_opt rollout-timeout 999999999999999999
for k in interval timeout step-timeout; do num_opt "$k"; done

image="${opt[image]}:$version"
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
port=${opt[port]}
previous=""

bounded() { timeout "${opt[step-timeout]}" "$@"; }
d() { bounded "${opt[docker]}" "$@"; }
k() { bounded "${opt[kubectl]}" -n "$ns" "$@"; }
rollout_status() {
  timeout "$((opt[rollout-timeout] + 60))" "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" \
    --timeout="${opt[rollout-timeout]}s"
}
millis() { date +%s%3N; }

rollback() {
  say "rolling back: $1"
  if [[ ${opt[mode]} == docker ]]; then
    d rm -f "$name" >&2 || say "docker rm -f $name failed, going on"
    if [[ -n $previous ]]; then
      d run -d --name "$name" -p "127.0.0.1:$port:8000" "${labels[@]}" "$previous" >&2 \
        || say "ROLLBACK FAILED: $previous did not start"
    fi
  else
    if k rollout undo "deployment/$name" >&2; then
      rollout_status >&2 || say "ROLLBACK FAILED: the undo did not finish"
    else
      say "ROLLBACK FAILED: rollout undo failed"
    fi
  fi
  exit 1
}

container_up() {  # 0 running, 1 gone/exited, 2 not yet
  local running status
  running=$(d container inspect --format='{{.State.Running}}' "$name" 2>/dev/null) || running=""
  [[ $running == true ]] && return 0
  status=$(d container inspect --format='{{.State.Status}}' "$name" 2>/dev/null) || status=""
  case $status in exited|dead) return 1 ;; esac
  return 2
}

deploy_docker() {
  previous=$(d inspect --format='{{.Image}}' "$name" 2>/dev/null) || previous=""
  d rm -f "$name" >&2 || true
  d run -d --name "$name" -p "127.0.0.1:$port:8000" "${labels[@]}" "$image" >&2 || return 1
  local since_ms rc
  since_ms=$(millis)
  while :; do
    rc=0
    container_up || rc=$?
    ((rc == 0)) && return 0
    ((rc == 1)) && { say "$name exited"; return 1; }
    (( ($(millis) - since_ms) / 1000 < opt[rollout-timeout] )) || { say "$name not running in ${opt[rollout-timeout]}s"; return 1; }
    sleep 0.25
  done
}

deploy_k8s() {
  k set image "deployment/$name" "$container=$image" >&2 || return 1
  rollout_status >&2
}

probe_health() {
  if [[ ${opt[mode]} == docker ]]; then
    curl --silent --fail --output /dev/null --max-time "${opt[timeout]}" "http://127.0.0.1:$port/health"
  else
    bounded "${opt[kubectl]}" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null
  fi
}

say "building $image"
d build -t "$image" "${build_args[@]}" "${opt[context]}" >&2 || { say "build failed"; exit 1; }
d run --rm "${labels[@]}" "$image" sh -c "${opt[test-cmd]}" >&2 || { say "tests failed in $image"; exit 1; }
if [[ ${opt[mode]} == k8s && -n ${opt[kind-cluster]} ]]; then
  bounded "${opt[kind]}" load docker-image "$image" --name "${opt[kind-cluster]}" >&2 || { say "kind load failed"; exit 1; }
fi

case ${opt[mode]} in
  docker) deploy_docker || rollback "the new container did not start" ;;
  k8s) deploy_k8s || rollback "the rollout did not finish" ;;
esac

attempt=1
until probe_health; do
  say "health check $attempt/${opt[retries]} failed"
  ((attempt < opt[retries])) || rollback "unhealthy after ${opt[retries]} checks"
  attempt=$((attempt + 1))
  sleep "${opt[interval]}"
done
say "$image is deployed and healthy"
