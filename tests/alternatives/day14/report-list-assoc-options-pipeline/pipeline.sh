#!/usr/bin/env bash
# usage: pipeline.sh [options] VERSION   (see --help)
set -o errexit -o nounset -o pipefail

print_usage() {
  echo "usage: pipeline.sh [--mode docker|k8s] [--image NAME] [--context DIR] [--build-arg K=V]... [--test-cmd CMD]"
  echo "       [--name NAME] [--port PORT] [--label K=V]... [--namespace NS] [--container NAME] [--kind-cluster NAME]"
  echo "       [--rollout-timeout S] [--retries N] [--interval S] [--timeout S] [--step-timeout S]"
  echo "       [--docker PATH] [--kubectl PATH] [--kind PATH] VERSION"
}
bad() { printf 'error: %s\n' "$1" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

declare -A opt=([mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model
  [port]=8000 [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10
  [interval]=1 [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}"
  [kind]="${KIND:-kind}")
build_args=()
labels=()
versions=()
while [ "$#" -gt 0 ]; do
  arg="$1"
  shift
  case "$arg" in
    -h|--help) print_usage; exit 0 ;;
    --*=*) key="${arg%%=*}"; set -- "$key" "${arg#*=}" "$@"; continue ;;
    --build-arg|--label)
      [ "$#" -gt 0 ] || bad "$arg needs a value"
      if [ "$arg" = --label ]; then labels+=("--label=$1"); else build_args+=("--build-arg=$1"); fi
      shift ;;
    --*)
      key="${arg#--}"
      [[ -v "opt[$key]" ]] || bad "unknown option $arg"
      [ "$#" -gt 0 ] || bad "$arg needs a value"
      opt[$key]="$1"
      shift ;;
    -*) bad "unknown option $arg" ;;
    *) versions+=("$arg") ;;
  esac
done

is_count() { [[ "$1" =~ ^0*[1-9][0-9]*$ ]]; }
is_positive() { python3 -c 'import math,sys; v=float(sys.argv[1]); sys.exit(0 if math.isfinite(v) and v > 0 else 1)' "$1" 2>/dev/null; }

[ "${#versions[@]}" -eq 1 ] || bad "one VERSION is required"
version="${versions[0]}"
[[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad "VERSION is not a valid image tag"
case "${opt[mode]}" in docker|k8s) ;; *) bad "--mode is docker or k8s" ;; esac
is_count "${opt[port]}" && [ "${#opt[port]}" -le 5 ] && [ "${opt[port]}" -le 65535 ] || bad "--port 1-65535"
for k in retries rollout-timeout; do is_count "${opt[$k]}" || bad "--$k must be a positive integer"; done
for k in retries rollout-timeout; do [[ ${opt[$k]} =~ ^0*[0-9]{1,18}$ ]] || bad "--$k: at most 18 digits"; done  # else 64-bit wrap
for k in port retries rollout-timeout; do opt[$k]=$((10#${opt[$k]})); done  # decimal: a leading zero is not octal
for k in interval timeout step-timeout; do is_positive "${opt[$k]}" || bad "--$k must be a positive number"; done

ref="${opt[image]}:$version"
name="${opt[name]}"
port="${opt[port]}"
ns="${opt[namespace]}"
container="${opt[container]:-$name}"
DOCKER_BIN="${opt[docker]}"
KUBECTL_BIN="${opt[kubectl]}"
previous=""

bounded() { timeout "${opt[step-timeout]}" "$@" 1>&2; }
kc() { bounded "$KUBECTL_BIN" -n "$ns" "$@"; }
wait_rollout() { timeout $((opt[rollout-timeout] + 15)) "$KUBECTL_BIN" -n "$ns" rollout status "deployment/$name" --timeout "${opt[rollout-timeout]}s" 1>&2; }
start_container() {
  bounded "$DOCKER_BIN" run -d --name "$name" -p "127.0.0.1:$port:8000" "${labels[@]}" "$1"
}

rollback() {
  say "rolling back: $1"
  if [ "${opt[mode]}" = k8s ]; then
    kc rollout undo "deployment/$name" || say "rollout undo failed"
    wait_rollout || say "the undo did not finish"
  else
    bounded "$DOCKER_BIN" rm -f "$name" || true
    if [ -n "$previous" ]; then start_container "$previous" || say "could not start $previous"; fi
  fi
  exit 1
}

check_health() {
  if [ "${opt[mode]}" = k8s ]; then
    timeout "${opt[timeout]}" "$KUBECTL_BIN" get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null 2>&1
  else
    curl -fsS -o /dev/null --max-time "${opt[timeout]}" "http://127.0.0.1:$port/health" 2>/dev/null
  fi
}

say "build $ref"
if ! bounded "$DOCKER_BIN" build "${build_args[@]}" -t "$ref" "${opt[context]}"; then say "build failed"; exit 1; fi
say "test $ref"
if ! bounded "$DOCKER_BIN" run --rm "${labels[@]}" "$ref" sh -c "${opt[test-cmd]}"; then say "tests failed"; exit 1; fi

if [ "${opt[mode]}" = docker ]; then
  previous="$(timeout "${opt[step-timeout]}" "$DOCKER_BIN" inspect --format '{{.Config.Image}}' "$name" 2>/dev/null || true)"
  bounded "$DOCKER_BIN" rm -f "$name" 2>/dev/null || true
  start_container "$ref" || rollback "docker run failed"
  running=""
  started=${EPOCHREALTIME/./}
  while (((${EPOCHREALTIME/./} - started) / 1000000 < ${opt[rollout-timeout]})); do
    running="$(timeout "${opt[step-timeout]}" "$DOCKER_BIN" inspect --format '{{.State.Running}}' "$name" || true)"
    [ "$running" = true ] && break
    case "$(timeout "${opt[step-timeout]}" "$DOCKER_BIN" inspect --format '{{.State.Status}}' "$name" || true)" in
      exited | dead) rollback "container exited" ;;
    esac
    sleep 1
  done
  [ "$running" = true ] || rollback "container is not running"
else
  if [ -n "${opt[kind-cluster]}" ]; then
    bounded "${opt[kind]}" load docker-image "$ref" --name "${opt[kind-cluster]}" || { say "kind load failed"; exit 1; }
  fi
  kc set image "deployment/$name" "$container=$ref" || rollback "set image failed"
  wait_rollout || rollback "rollout did not finish"
fi

attempt=0
until check_health; do
  attempt=$((attempt + 1))
  [ "$attempt" -lt "${opt[retries]}" ] || rollback "unhealthy after ${opt[retries]} checks"
  sleep "${opt[interval]}"
done
say "$ref is deployed and healthy"
