#!/usr/bin/env bash
# deploy.sh — build, swap, health-check, promote; an EXIT trap rolls back whatever was started.
set -o errexit -o nounset -o pipefail
export TZ=UTC0

declare -A cfg=(
  [image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}"
)
build_args=()
labels=()
positionals=()

print_usage() {
  cat <<'TEXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TEXT
}

bad_usage() {
  printf 'deploy.sh: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }

positive_number() { awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+|[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)$/ && x + 0 > 0) }'; }
integer_between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x ~ /^[0-9]+$/ && x + 0 >= lo && x + 0 <= hi) }'; }

while (($#)); do
  case $1 in
    --image|--name|--port|--context|--state-file|--retries|--interval|--timeout|--docker|--build-arg|--label)
      (($# > 1)) || bad_usage "$1 needs a value"
      case $1 in
        --build-arg) build_args+=("--build-arg=$2") ;;
        --label) labels+=("--label=$2") ;;
        *) cfg[${1#--}]=$2 ;;
      esac
      shift 2
      ;;
    -h|--help) print_usage; exit 0 ;;
    --) shift; positionals+=("$@"); break ;;
    -*) bad_usage "unknown option ${1%%=*}" ;;
    *) positionals+=("$1"); shift ;;
  esac
done

((${#positionals[@]} == 1)) || bad_usage "expected exactly one VERSION, got ${#positionals[@]}"
version=${positionals[0]}
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "VERSION is not a valid image tag"
integer_between "${cfg[port]}" 1 65535 || bad_usage "--port must be 1..65535"
integer_between "${cfg[retries]}" 1 1000000 || bad_usage "--retries must be a positive integer"
positive_number "${cfg[interval]}" || bad_usage "--interval must be a positive number"
positive_number "${cfg[timeout]}" || bad_usage "--timeout must be a positive number"

image=${cfg[image]}
name=${cfg[name]}
port=$((10#${cfg[port]}))
retries=$((10#${cfg[retries]}))
state_file=${cfg[state-file]}
new_container="$name-$version"
previous=""
if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi
[[ $version != "$previous" ]] || { say ERROR "$version is already serving, nothing to deploy"; exit 1; }
old_container=${previous:+$name-$previous}

docker_() { timeout 600 "${cfg[docker]}" "$@" 1>&2; }

# phase: what the EXIT trap must undo. idle -> nothing; swapping -> remove new, restart old; promoted -> nothing.
phase=idle
on_exit() {
  local code=$?
  if [[ $phase == swapping ]]; then
    say ERROR "rollback: removing $new_container"
    docker_ rm -f "$new_container" || say ERROR "rollback: docker rm -f $new_container failed"
    if [[ -n $old_container ]]; then
      say ERROR "rollback: starting $old_container again"
      docker_ start "$old_container" || say ERROR "rollback: docker start $old_container failed"
    fi
    code=1
  fi
  exit "$code"
}
trap on_exit EXIT

probe_until_healthy() {
  local attempt=1 status
  until (( attempt > retries )); do
    ((attempt == 1)) || sleep "${cfg[interval]}"
    status=$(curl -s -o /dev/null -w '%{http_code}' -m "${cfg[timeout]}" "http://127.0.0.1:$port/health") || status=000
    say INFO "health attempt $attempt of $retries: $status"
    [[ $status == 200 ]] && return 0
    attempt=$((attempt + 1))
  done
  return 1
}

say INFO "build $image:$version (context ${cfg[context]})"
docker_ build -t "$image:$version" "${build_args[@]}" "${cfg[context]}" || { say ERROR "build of $image:$version failed"; exit 1; }

phase=swapping
if [[ -n $old_container ]]; then
  say INFO "stop $old_container"
  docker_ stop "$old_container"
fi
say INFO "run $new_container on 127.0.0.1:$port"
docker_ run --detach --name "$new_container" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version"
probe_until_healthy || { say ERROR "$new_container never answered 200"; exit 1; }
phase=promoted

if [[ -n $old_container ]]; then
  say INFO "remove $old_container"
  docker_ rm -f "$old_container" || say WARN "could not remove $old_container"
fi
tmp=$(mktemp "$state_file.XXXXXX")
printf '%s\n' "$version" > "$tmp"
mv -f "$tmp" "$state_file"
say INFO "promoted $image:$version"
