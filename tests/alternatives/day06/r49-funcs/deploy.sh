#!/usr/bin/env bash
# deploy.sh — build, swap, check, promote; roll back when the new version never gets healthy.
# Exit codes: 0 promoted, 1 deploy failed, 2 usage error.
set -o errexit -o nounset -o pipefail
shopt -s extglob

print_usage() {
  printf '%s\n' \
    'usage: deploy.sh [options] VERSION' \
    '  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)' \
    '  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS' \
    '  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'
}
usage_error() { printf 'deploy.sh: %s\n' "$*" >&2; print_usage >&2; exit 2; }
say() { local level=$1; shift; printf '%s [%s] %s\n' "$(TZ=UTC0 date +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"; }

number_ok() { [[ $1 == +([0-9])?(.+([0-9])) && $1 == *[1-9]* ]]; }
base10() { local n=$1; n=${n##+(0)}; printf '%s' "${n:-0}"; }

declare -A opt=(
  [image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}"
)
declare -a build_args=() labels=() positional=()

while (($#)); do
  case $1 in
    -h|--help) print_usage; exit 0 ;;
    --image|--name|--port|--context|--state-file|--retries|--interval|--timeout|--docker)
      (($# >= 2)) || usage_error "$1 needs a value"
      opt[${1#--}]=$2; shift 2 ;;
    --build-arg) (($# >= 2)) || usage_error "$1 needs a value"; build_args+=("--build-arg=$2"); shift 2 ;;
    --label) (($# >= 2)) || usage_error "$1 needs a value"; labels+=("--label=$2"); shift 2 ;;
    -*) usage_error "unknown option ${1%%=*}" ;;
    *) positional+=("$1"); shift ;;
  esac
done

((${#positional[@]} == 1)) || usage_error "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
(
  export LC_ALL=C
  [[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
) || usage_error "VERSION is not a valid image tag"
image=${opt[image]} name=${opt[name]} context=${opt[context]} state=${opt[state-file]} docker_bin=${opt[docker]}
for key in image name context state-file docker; do
  [[ -n ${opt[$key]} ]] || usage_error "--$key must not be empty"
done
[[ ${opt[port]} == +([0-9]) ]] || usage_error "--port must be a number"
port=$(base10 "${opt[port]}")
((${#port} <= 5 && port >= 1 && port <= 65535)) || usage_error "--port out of range"
[[ ${opt[retries]} == +([0-9]) ]] || usage_error "--retries must be a positive integer"
retries=$(base10 "${opt[retries]}")
((${#retries} <= 18 && retries >= 1)) || usage_error "--retries must be a positive integer"
number_ok "${opt[interval]}" || usage_error "--interval must be a positive number"
number_ok "${opt[timeout]}" || usage_error "--timeout must be a positive number"
interval=${opt[interval]} timeout=${opt[timeout]}

serving=""
if [[ -f $state ]]; then
  IFS= read -r serving < "$state" || true
fi

if [[ -n $serving && "$serving" == "$version" ]]; then
  say ERROR "refusing: $version is already the serving version; tag a new version"
  exit 1
fi

docker_do() { "$docker_bin" "$@" 1>&2; }

restore() {
  say ERROR "rollback: $name-$version failed, rolling back to ${serving:-nothing}"
  if ! docker_do rm --force "$name-$version"; then say ERROR "rollback: could not remove $name-$version"; fi
  if [[ -n $serving ]]; then
    if ! docker_do start "$name-$serving"; then say ERROR "rollback: could not start $name-$serving"; fi
  fi
  exit 1
}

probe_once() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "$timeout" --max-time "$timeout" \
    "http://127.0.0.1:$port/health") || :
  [[ $got == 200 ]]
}

say INFO "deploy $image:$version as $name-$version on 127.0.0.1:$port (serving: ${serving:-none})"
say INFO "build: $image:$version (${#build_args[@]} build args) context $context"
if ! docker_do build -t "$image:$version" "${build_args[@]}" "$context"; then
  say ERROR "build failed for $image:$version"
  exit 1
fi

if [[ -n $serving ]]; then
  say INFO "stop: $name-$serving"
  if ! docker_do stop "$name-$serving"; then
    say ERROR "stop of $name-$serving failed"
    restore
  fi
fi

say INFO "run: $name-$version"
if ! docker_do run --detach --name "$name-$version" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version"; then
  say ERROR "run of $name-$version failed"
  restore
fi

ok=false
for ((attempt = 1; attempt <= retries; attempt++)); do
  if probe_once; then ok=true; say INFO "health: attempt $attempt ok"; break; fi
  say WARN "health: attempt $attempt/$retries failed"
  if ((attempt < retries)); then sleep "$interval"; fi
done
$ok || restore

if [[ -n $serving ]]; then
  say INFO "remove: $name-$serving"
  docker_do rm --force "$name-$serving" || say WARN "remove of $name-$serving failed; carrying on"
fi

dir=$(dirname -- "$state")
tmpfile=$(mktemp "$dir/.deployed.XXXXXXXX")
printf '%s\n' "$version" > "$tmpfile"
mv -- "$tmpfile" "$state"
say INFO "promoted $version"
