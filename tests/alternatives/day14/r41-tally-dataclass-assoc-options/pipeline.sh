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
#

set -o errexit -o nounset -o pipefail

print_usage() { awk 'NR > 1 && /^# usage:/ { on = 1 } on && /^#/ { sub(/^# ?/, ""); print } on && !/^#/ { exit }' "$0"; }
die_usage() { echo "error: $*" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date -u '+%F %T')] $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

unset opt build_flags label_flags positional
declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
declare -a build_flags=() label_flags=() positional=()
prev_image=""

while (($#)); do
  arg=$1
  shift
  case $arg in
    -h | --help) print_usage; exit 0 ;;
    --build-arg | --label)
      (($#)) || die_usage "$arg needs a value"
      if [[ $arg == --label ]]; then label_flags+=(--label "$1"); else build_flags+=(--build-arg "$1"); fi
      shift ;;
    --*)
      key=${arg#--}
      [[ -v "opt[$key]" ]] || die_usage "unknown option $arg"
      (($#)) || die_usage "$arg needs a value"
      opt[$key]=$1
      shift ;;
    -*) die_usage "unknown option $arg" ;;
    *) positional+=("$arg") ;;
  esac
done

# Validation, byte-wise (LC_ALL=C: no locale letters such as é in the ranges).
is_tag() {
  local LC_ALL=C
  ((${#1} >= 1 && ${#1} <= 128)) || return 1
  case $1 in [!A-Za-z0-9_]* | *[!A-Za-z0-9_.-]*) return 1 ;; esac
}
to_count() { # prints the decimal value of a whole number 1..10^18-1, fails otherwise
  local LC_ALL=C s=$1
  case $s in '' | *[!0-9]*) return 1 ;; esac
  while [[ $s == 0* ]]; do s=${s#0}; done
  [[ -n $s ]] && ((${#s} <= 18)) || return 1
  echo "$((10#$s))"
}
is_seconds() {
  local LC_ALL=C
  case $1 in '' | . | *[!0-9.]* | *.*.*) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}

((${#positional[@]} == 1)) || die_usage "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
is_tag "$version" || die_usage "VERSION is not a valid image tag"
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || die_usage "--mode is docker or k8s"
port=$(to_count "${opt[port]}") || die_usage "--port is 1-65535"
((port <= 65535)) || die_usage "--port is 1-65535"
retries=$(to_count "${opt[retries]}") || die_usage "--retries is a positive integer"
rollout_s=$(to_count "${opt[rollout-timeout]}") || die_usage "--rollout-timeout is a positive integer"
for key in interval timeout step-timeout; do
  is_seconds "${opt[$key]}" || die_usage "--$key is a positive number"
done

image="${opt[image]}:$version"
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
step_s=${opt[step-timeout]}
health_s=${opt[timeout]}
pause_s=${opt[interval]}
DOCKER_CMD=${opt[docker]}
KUBECTL_CMD=${opt[kubectl]}
KIND_CMD=${opt[kind]}

bounded() { timeout "$step_s" "$@"; }
docker_() { bounded "$DOCKER_CMD" "$@"; }
kube() { bounded "$KUBECTL_CMD" -n "$ns" "$@"; }
kube_wait() { timeout "$((rollout_s + 60))" "$KUBECTL_CMD" -n "$ns" rollout status "deployment/$name" --timeout="${rollout_s}s"; }
ms_now() { date +%s%3N; }

serve() { docker_ run -d --name "$name" -p "127.0.0.1:$port:8000" "${label_flags[@]}" "$1" >&2; }

deploy_docker() {
  local t0 status
  prev_image=$(docker_ inspect --format '{{.Config.Image}}' "$name" 2>/dev/null) || prev_image=""
  docker_ rm -f "$name" >/dev/null 2>&1 || true
  t0=$(ms_now)
  serve "$image" || return 1
  until status=$(docker_ inspect --format '{{.State.Status}}' "$name" 2>/dev/null) && [[ $status == running ]]; do
    case ${status:-} in exited | dead) say "new container is $status"; return 1 ;; esac
    (($(ms_now) - t0 < rollout_s * 1000)) || { say "not running after ${rollout_s}s"; return 1; }
    status=""
    sleep 0.25
  done
}
deploy_k8s() {
  kube set image "deployment/$name" "$container=$image" >&2 || return 1
  kube_wait >&2
}

probe_docker() { curl -fsS -o /dev/null --max-time "$health_s" "http://127.0.0.1:$port/health"; }
probe_k8s() { timeout "$health_s" "$KUBECTL_CMD" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null; }

healthy() {
  local left=$retries
  while :; do
    case ${opt[mode]} in docker) probe_docker && return 0 ;; k8s) probe_k8s && return 0 ;; esac
    left=$((left - 1))
    ((left > 0)) || return 1
    sleep "$pause_s"
  done
}

rollback_docker() {
  docker_ rm -f "$name" >&2 || say "rm -f $name failed, going on"
  if [[ -z $prev_image ]]; then say "no previous version to bring back"; return 0; fi
  serve "$prev_image" || { say "could not start $prev_image again"; return 1; }
}
rollback_k8s() {
  kube rollout undo "deployment/$name" >&2 || { say "rollout undo failed"; return 1; }
  kube_wait >&2 || { say "rollout back did not finish"; return 1; }
}
roll_back() {
  say "rolling back: $1"
  case ${opt[mode]} in
    docker) rollback_docker || say "the rollback failed too" ;;
    k8s) rollback_k8s || say "the rollback failed too" ;;
  esac
  exit 1
}

say "build $image"
docker_ build --tag "$image" "${build_flags[@]}" "${opt[context]}" >&2 || fail "build"
say "test $image"
docker_ run --rm "${label_flags[@]}" "$image" sh -c "${opt[test-cmd]}" >&2 || fail "tests"
if [[ ${opt[mode]} == k8s && -n ${opt[kind-cluster]} ]]; then
  bounded "$KIND_CMD" load docker-image "$image" --name "${opt[kind-cluster]}" >&2 || fail "kind load"
fi
case ${opt[mode]} in
  docker) deploy_docker || roll_back "deploy" ;;
  k8s) deploy_k8s || roll_back "set image / rollout" ;;
esac
healthy || roll_back "health"
say "$image is live"
