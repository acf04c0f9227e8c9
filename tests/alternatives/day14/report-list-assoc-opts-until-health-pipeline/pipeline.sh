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

print_usage() {
  cat <<'EOF'
usage: pipeline.sh [options] VERSION
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V (repeatable)  --test-cmd CMD
  --name NAME  --port PORT  --label K=V (repeatable)  --namespace NS  --container NAME  --kind-cluster NAME
  --rollout-timeout S  --retries N  --interval S  --timeout S  --step-timeout S
  --docker PATH  --kubectl PATH  --kind PATH  -h, --help
EOF
}

bad() {
  echo "error: $*" >&2
  print_usage >&2
  exit 2
}

say() { echo "[$(date '+%H:%M:%S')] $*" >&2; }

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
    -h | --help)
      print_usage
      exit 0
      ;;
    --build-arg | --label)
      (($#)) || bad "$arg needs a value"
      if [[ $arg == --label ]]; then labels+=("--label=$1"); else build_args+=("--build-arg=$1"); fi
      shift
      ;;
    --*)
      key=${arg#--}
      [[ -v "opt[$key]" ]] || bad "unknown option: $arg"
      (($#)) || bad "$arg needs a value"
      opt[$key]=$1
      shift
      ;;
    -*) bad "unknown option: $arg" ;;
    *) positional+=("$arg") ;;
  esac
done

((${#positional[@]} == 1)) || bad "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || bad "not a valid image tag: $version"
[[ ${opt[mode]} == docker || ${opt[mode]} == k8s ]] || bad "--mode is docker or k8s"
int_re='^[0-9]+$'
num_re='^([0-9]+|[0-9]*\.[0-9]+|[0-9]+\.)$'
positive_int() { [[ $1 =~ $int_re ]] && [[ $1 =~ [1-9] ]]; }
positive_num() { [[ $1 =~ $num_re ]] && [[ $1 =~ [1-9] ]]; }
if [[ ! ${opt[port]} =~ $int_re ]] || ((${#opt[port]} > 5)) || ((10#${opt[port]} < 1 || 10#${opt[port]} > 65535)); then
  bad "--port is 1-65535"
fi
for key in retries rollout-timeout; do
  positive_int "${opt[$key]}" || bad "--$key must be a positive integer"
  [[ ${opt[$key]} =~ ^0*[0-9]{1,18}$ ]] || bad "--$key has more than 18 digits (bash arithmetic wraps at 64 bits)"
done
for key in interval timeout step-timeout; do
  positive_num "${opt[$key]}" || bad "--$key must be a positive number"
done

image_ref="${opt[image]}:$version"
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
rollout_limit=$((10#${opt[rollout-timeout]}))
docker_cmd=(timeout "${opt[step-timeout]}" "${opt[docker]}")
kube_cmd=(timeout "${opt[step-timeout]}" "${opt[kubectl]}" -n "$ns")
kind_cmd=(timeout "${opt[step-timeout]}" "${opt[kind]}")
previous_id=""

wait_rollout() {
  timeout "$((rollout_limit + 15))" "${opt[kubectl]}" -n "$ns" rollout status "deployment/$name" --timeout="${rollout_limit}s" >&2
}

start_container() {
  "${docker_cmd[@]}" run -d --name "$name" -p "127.0.0.1:${opt[port]}:8000" "${labels[@]}" "$1" >&2
}

roll_back() {
  say "rolling back: $1"
  if [[ ${opt[mode]} == k8s ]]; then
    "${kube_cmd[@]}" rollout undo "deployment/$name" >&2 || say "rollout undo failed"
    wait_rollout || say "the undo's rollout did not complete"
  else
    "${docker_cmd[@]}" rm -f "$name" >&2 || say "docker rm failed"
    if [[ -n $previous_id ]]; then
      start_container "$previous_id" || say "could not start $previous_id again"
    fi
  fi
  exit 1
}

deploy_docker() {
  previous_id=$("${docker_cmd[@]}" inspect --format '{{.Image}}' "$name" 2>/dev/null) || previous_id=""
  # whether or not the inspect found an image: a failed inspect does not mean no container holds the name
  "${docker_cmd[@]}" rm -f "$name" >&2 2>/dev/null || true
  start_container "$image_ref" || return 1
  local started=${EPOCHREALTIME/./} running
  until running=$("${docker_cmd[@]}" inspect --format '{{.State.Running}}' "$name") && [[ $running == true ]]; do
    if [[ $("${docker_cmd[@]}" inspect --format '{{.State.Status}}' "$name" || echo unknown) =~ ^(exited|dead|gone)$ ]]; then
      say "the new container stopped"
      return 1
    fi
    (((${EPOCHREALTIME/./} - started) / 1000000 < rollout_limit)) || return 1
    sleep 0.25
  done
}

deploy_k8s() {
  if [[ -n ${opt[kind-cluster]} ]]; then
    "${kind_cmd[@]}" load docker-image "$image_ref" --name "${opt[kind-cluster]}" >&2 || { echo "kind load failed; nothing deployed" >&2; exit 1; }
  fi
  "${kube_cmd[@]}" set image "deployment/$name" "$container=$image_ref" >&2 || return 1
  wait_rollout || return 1
}

check_health() {
  if [[ ${opt[mode]} == k8s ]]; then
    timeout "${opt[timeout]}" "${opt[kubectl]}" -n "$ns" get --raw "/api/v1/namespaces/$ns/services/$name:${opt[port]}/proxy/health" >/dev/null
  else
    curl -fsS --max-time "${opt[timeout]}" -o /dev/null "http://127.0.0.1:${opt[port]}/health"
  fi
}

say "build $image_ref"
"${docker_cmd[@]}" build --tag "$image_ref" "${build_args[@]}" "${opt[context]}" >&2 || exit 1
say "test $image_ref"
"${docker_cmd[@]}" run --rm "${labels[@]}" "$image_ref" sh -c "${opt[test-cmd]}" >&2 || exit 1

case ${opt[mode]} in
  docker) deploy_docker || roll_back "deploy failed" ;;
  k8s) deploy_k8s || roll_back "rollout failed" ;;
esac

left=$((10#${opt[retries]}))
until check_health; do
  left=$((left - 1))
  ((left > 0)) || roll_back "health check failed ${opt[retries]} times"
  sleep "${opt[interval]}"
done
say "$image_ref is live"
