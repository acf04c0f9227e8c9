#!/usr/bin/env bash
# Deployment pipeline: build -> test in image -> deploy -> wait -> health; a failure after the
# deploy began rolls back from an EXIT trap. Exit 0 ok, 1 failed (rolled back), 2 usage.
set -o errexit -o nounset -o pipefail

print_usage() {
  cat <<'TXT'
Usage: pipeline.sh [options] VERSION
Options:
  --mode docker|k8s  --image NAME  --context DIR  --build-arg K=V  --test-cmd CMD
  --name NAME  --port PORT  --label K=V  --namespace NS  --container NAME  --kind-cluster NAME
  --rollout-timeout S (default 120)  --retries N (default 10)  --interval S (default 1)
  --timeout S (default 5)  --step-timeout S (default 600)
  --docker PATH  --kubectl PATH  --kind PATH  -h|--help
TXT
}
bad_usage() { printf 'error: %s\n' "$1" >&2; print_usage >&2; exit 2; }
say() { echo "[$(date '+%F %T')] $*" >&2; }

declare -A opt=(
  [mode]=docker [image]=ml-model [context]=. [test-cmd]="python -m pytest -q" [name]=ml-model [port]=8000
  [namespace]=default [container]="" [kind-cluster]="" [rollout-timeout]=120 [retries]=10 [interval]=1
  [timeout]=5 [step-timeout]=600 [docker]="${DOCKER:-docker}" [kubectl]="${KUBECTL:-kubectl}" [kind]="${KIND:-kind}"
)
build_args=()
run_labels=()
positionals=()

while [ "$#" -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    -h|--help) print_usage; exit 0 ;;
    --build-arg|--label)
      [ "$#" -gt 0 ] || bad_usage "$arg needs a value"
      if [ "$arg" = --label ]; then run_labels+=("--label=$1"); else build_args+=("--build-arg=$1"); fi
      shift ;;
    --*)
      key=${arg#--}
      [[ -v "opt[$key]" ]] || bad_usage "unknown option $arg"
      [ "$#" -gt 0 ] || bad_usage "$arg needs a value"
      opt[$key]=$1
      shift ;;
    -*) bad_usage "unknown option $arg" ;;
    *) positionals+=("$arg") ;;
  esac
done

[ "${#positionals[@]}" -eq 1 ] || bad_usage "give exactly one VERSION"
version=${positionals[0]}
case $version in
  ''|[!A-Za-z0-9_]*|*[!A-Za-z0-9_.-]*) bad_usage "VERSION is not a valid image tag" ;;
esac
[ "${#version}" -le 128 ] || bad_usage "VERSION is longer than 128 characters"
case ${opt[mode]} in docker|k8s) ;; *) bad_usage "--mode is docker or k8s" ;; esac

integer() {  # prints the decimal value of a positive whole number, or fails
  local v=$1
  case $v in ''|*[!0-9]*) return 1 ;; esac
  v=$(printf '%s' "$v" | awk '{ sub(/^0+/, ""); print }')
  [ -n "$v" ] && [ "${#v}" -le 18 ] || return 1
  echo "$v"
}
number() {  # a positive decimal number
  case $1 in ''|.|*[!0-9.]*|*.*.*) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}

port=$(integer "${opt[port]}") || bad_usage "--port must be 1-65535"
[ "$port" -le 65535 ] || bad_usage "--port must be 1-65535"
retries=$(integer "${opt[retries]}") || bad_usage "--retries must be a positive whole number"
rollout_timeout=$(integer "${opt[rollout-timeout]}") || bad_usage "--rollout-timeout must be a positive whole number"
for key in interval timeout step-timeout; do
  number "${opt[$key]}" || bad_usage "--$key must be a positive number"
done

mode=${opt[mode]}
name=${opt[name]}
ns=${opt[namespace]}
container=${opt[container]:-$name}
tag="${opt[image]}:$version"
step_limit=${opt[step-timeout]}
health_limit=${opt[timeout]}
docker_bin=${opt[docker]}
kubectl_bin=${opt[kubectl]}
kind_bin=${opt[kind]}

bounded() { timeout "$step_limit" "$@"; }

deploying=0
previous_image=""

rollback() {
  if [ "$mode" = docker ]; then
    bounded "$docker_bin" rm -f "$name" >&2 || say "rollback: rm of $name failed, going on"
    if [ -n "$previous_image" ]; then
      bounded "$docker_bin" run -d --name "$name" -p "127.0.0.1:$port:8000" "${run_labels[@]}" "$previous_image" >&2 \
        || say "ROLLBACK FAILED: $previous_image did not start"
    else
      say "rollback: no previous container to bring back"
    fi
  else
    bounded "$kubectl_bin" rollout undo "deployment/$name" -n "$ns" >&2 || say "ROLLBACK FAILED: rollout undo"
    timeout "$((rollout_timeout * 2 + 10))" "$kubectl_bin" rollout status "deployment/$name" -n "$ns" \
      "--timeout=${rollout_timeout}s" >&2 || say "ROLLBACK FAILED: the undo did not roll out"
  fi
}

finish() {
  local status=$?
  trap - EXIT
  if [ "$status" -ne 0 ] && [ "$deploying" -eq 1 ]; then
    say "deploy of $tag failed: rolling back"
    rollback || true
    exit 1
  fi
  exit "$status"
}
trap finish EXIT

fail() { say "$*"; exit 1; }

say "build $tag"
bounded "$docker_bin" build "${build_args[@]}" -t "$tag" "${opt[context]}" >&2 || fail "build failed"
say "test $tag"
bounded "$docker_bin" run --rm "${run_labels[@]}" "$tag" sh -c "${opt[test-cmd]}" >&2 || fail "tests failed in $tag"

if [ "$mode" = k8s ] && [ -n "${opt[kind-cluster]}" ]; then
  bounded "$kind_bin" load docker-image "$tag" --name "${opt[kind-cluster]}" >&2 || fail "kind load failed"
fi

check_health() {
  if [ "$mode" = docker ]; then
    curl -fsS -o /dev/null --max-time "$health_limit" "http://127.0.0.1:$port/health"
  else
    timeout "$health_limit" "$kubectl_bin" get --raw "/api/v1/namespaces/$ns/services/$name:$port/proxy/health" >/dev/null
  fi
}

if [ "$mode" = docker ]; then
  if ! previous_image=$(bounded "$docker_bin" inspect --format '{{.Image}}' "$name" 2>/dev/null); then
    previous_image=""
  fi
  deploying=1
  bounded "$docker_bin" rm -f "$name" >/dev/null 2>&1 || true
  bounded "$docker_bin" run -d --name "$name" -p "127.0.0.1:$port:8000" "${run_labels[@]}" "$tag" >&2 \
    || fail "container $name did not start"
  started_ns=$(date +%s%N)
  while :; do
    state=$(bounded "$docker_bin" inspect --format '{{.State.Status}}' "$name" 2>/dev/null || true)
    if [ "$state" = running ]; then break; fi
    if [ "$state" = exited ] || [ "$state" = dead ]; then fail "container $name $state"; fi
    if [ $(( ($(date +%s%N) - started_ns) / 1000000000 )) -ge "$rollout_timeout" ]; then fail "container $name not running after ${rollout_timeout}s"; fi
    sleep 0.25
  done
else
  deploying=1
  bounded "$kubectl_bin" set image "deployment/$name" "$container=$tag" -n "$ns" >&2 || fail "set image failed"
  timeout "$((rollout_timeout * 2 + 10))" "$kubectl_bin" rollout status "deployment/$name" -n "$ns" \
    "--timeout=${rollout_timeout}s" >&2 || fail "rollout did not finish"
fi

attempt=0
until check_health; do
  attempt=$((attempt + 1))
  say "health check $attempt/$retries failed"
  [ "$attempt" -lt "$retries" ] || fail "$tag is unhealthy"
  sleep "${opt[interval]}"
done
deploying=0
say "$tag is deployed and healthy"
