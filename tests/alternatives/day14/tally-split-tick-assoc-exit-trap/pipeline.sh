#!/usr/bin/env bash
# pipeline.sh: build a model-server image, test it inside the image, deploy it, wait for the
# rollout, check its health; a failure after the deploy started is undone by the EXIT trap.
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
set -o errexit -o nounset -o pipefail

print_usage() { sed -n '/^# usage:/,/^#   -h, --help/s/^# \{0,1\}//p' "$0"; }
bad() { printf 'error: %s\n' "$1" >&2; print_usage >&2; exit 2; }
say() { printf '[%s] %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model
  [port]=8000 [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120
  [retries]=10 [interval]=1 [timeout]=5 [step-timeout]=600
  [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
labels=()
positional=()

for word in "$@"; do
  if [[ "$word" == -h || "$word" == --help ]]; then print_usage; exit 0; fi
done

while (($#)); do
  case "$1" in
    --build-arg|--label)
      (($# > 1)) || bad "$1 needs a value"
      if [[ "$1" == --label ]]; then labels+=("--label=$2"); else build_args+=("--build-arg=$2"); fi
      shift 2 ;;
    --*)
      key="${1#--}"
      [[ -v "opt[$key]" ]] || bad "unknown option $1"
      (($# > 1)) || bad "$1 needs a value"
      opt[$key]="$2"
      shift 2 ;;
    -?*) bad "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || bad "exactly one VERSION please (got ${#positional[@]})"
version="${positional[0]}"
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
if [[ "$version" == *$'\n'* ]] || ! [[ "$version" =~ $tag_re ]]; then bad "not an image tag: $version"; fi
case "${opt[mode]}" in docker|k8s) ;; *) bad "--mode must be docker or k8s" ;; esac

whole() {  # whole NAME MIN MAX: a decimal integer in range, normalised
  local v="${opt[$1]}"
  [[ "$v" =~ ^0*[0-9]{1,18}$ ]] || bad "--$1 must be a whole number"
  v=$((10#$v))
  ((v >= $2 && v <= $3)) || bad "--$1 must be between $2 and $3"
  opt[$1]="$v"
}
positive() {
  local v="${opt[$1]}"
  [[ "$v" =~ ^([0-9]+|[0-9]*\.[0-9]+)$ ]] || bad "--$1 must be a number"
  awk -v x="$v" 'BEGIN { exit !(x + 0 > 0) }' || bad "--$1 must be above zero"
}
whole port 1 65535
whole retries 1 999999999999999999
whole rollout-timeout 1 999999999999999999
positive interval
positive timeout
positive step-timeout

mode="${opt[mode]}" name="${opt[name]}" port="${opt[port]}" ns="${opt[namespace]}"
ref="${opt[image]}:$version"
limit="${opt[step-timeout]}"
rollout_s="${opt[rollout-timeout]}"
container="${opt[container]:-$name}"
docker_bin="${opt[docker]}" kubectl_bin="${opt[kubectl]}" kind_bin="${opt[kind]}"

bounded() { timeout "$limit" "$@"; }
d() { bounded "$docker_bin" "$@"; }
k() { bounded "$kubectl_bin" -n "$ns" "$@"; }
wait_rollout() {
  timeout "$((rollout_s + 15))" "$kubectl_bin" -n "$ns" rollout status "deployment/$name" "--timeout=${rollout_s}s"
}

previous_image=""
phase=build   # build -> deploying -> finished

on_exit() {
  local rc=$?
  trap - EXIT
  if ((rc == 0)); then exit 0; fi
  if [[ "$phase" == deploying ]]; then
    say "failed (status $rc): undoing the deploy of $ref"
    set +o errexit
    if [[ "$mode" == docker ]]; then
      d rm --force "$name" >&2 || say "docker rm failed; going on"
      if [[ -n "$previous_image" ]]; then
        d run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$previous_image" >&2 \
          || say "the previous image $previous_image did not start"
      fi
    else
      if k rollout undo "deployment/$name" >&2; then
        wait_rollout >&2 || say "the rollout after the undo did not complete"
      else
        say "kubectl rollout undo failed"
      fi
    fi
  else
    say "failed (status $rc) before deploying"
  fi
  exit 1
}
trap on_exit EXIT

say "build $ref"
d build --tag "$ref" "${build_args[@]}" "${opt[context]}" >&2
say "test $ref"
d run --rm "${labels[@]}" "$ref" sh -c "${opt[test-cmd]}" >&2

if [[ "$mode" == k8s && -n "${opt[kind-cluster]}" ]]; then
  bounded "$kind_bin" load docker-image "$ref" --name "${opt[kind-cluster]}" >&2   # nothing deployed yet
fi
phase=deploying
if [[ "$mode" == docker ]]; then
  previous_image="$(d inspect --format '{{.Image}}' "$name" 2>/dev/null)" || previous_image=""
  d rm --force "$name" >/dev/null 2>&1 || :
  d run --detach --name "$name" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$ref" >&2
  started=$(date +%s%N)
  until [[ "$(d inspect --format '{{.State.Running}}' "$name" 2>/dev/null || echo unknown)" == true ]]; do
    state="$(d inspect --format '{{.State.Status}}' "$name" 2>/dev/null || echo unknown)"
    if [[ "$state" == exited || "$state" == dead ]]; then say "the new container $state"; exit 1; fi
    if ((($(date +%s%N) - started) / 1000000000 >= rollout_s)); then say "not running after ${rollout_s}s"; exit 1; fi
    sleep 0.25
  done
  check() { curl -fsS -m "${opt[timeout]}" -o /dev/null "http://127.0.0.1:$port/health"; }
else
  k set image "deployment/$name" "$container=$ref" >&2
  wait_rollout >&2
  check() { timeout "${opt[timeout]}" "$kubectl_bin" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null; }
fi

tries=0
until check; do
  tries=$((tries + 1))
  if ((tries >= opt[retries])); then say "unhealthy after $tries checks"; exit 1; fi
  sleep "${opt[interval]}"
done
phase=finished
say "$ref is deployed and healthy"
