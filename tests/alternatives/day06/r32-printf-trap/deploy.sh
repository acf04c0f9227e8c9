#!/usr/bin/env bash
# Style: an EXIT trap drives the rollback from a phase variable; printf %()T stamps; mktemp beside the state file.
set -euo pipefail
export TZ=UTC0

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_cmd=${DOCKER:-docker}
declare -a build_args=() labels=() positional=()
previous='' phase=checking

usage() {
  cat <<'TXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TXT
}
bad() { printf 'deploy.sh: %s\n' "$*" >&2; usage >&2; exit 2; }
say() {
  local now
  printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s %-5s %s\n' "$now" "$1" "$2"
}
docker_do() { timeout 600 "$docker_cmd" "$@" 1>&2; }

decimal_ok() {
  case $1 in
    '' | *[!0-9.]* | *.*.* | .) return 1 ;;
  esac
  [[ $1 == *[1-9]* ]]
}
count_ok() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
  esac
  [[ $1 == *[1-9]* ]]
}

while (($#)); do
  flag=$1
  case $flag in
    -h | --help) usage; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# > 1)) || bad "$flag needs a value"
      value=$2
      shift 2
      case $flag in
        --image) image=$value ;;
        --name) name=$value ;;
        --port) port=$value ;;
        --context) context=$value ;;
        --build-arg) build_args+=("--build-arg=$value") ;;
        --label) labels+=("--label=$value") ;;
        --state-file) state_file=$value ;;
        --retries) retries=$value ;;
        --interval) interval=$value ;;
        --timeout) timeout_s=$value ;;
        --docker) docker_cmd=$value ;;
      esac ;;
    -?*) bad "unknown option ${flag%%=*}" ;;
    *) positional+=("$flag"); shift ;;
  esac
done

((${#positional[@]} == 1)) || bad "expected exactly one VERSION, got ${#positional[@]}"
version=${positional[0]}
tag_chars='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'
((${#version} >= 1 && ${#version} <= 128)) || bad "VERSION must be 1 to 128 characters"
[[ $tag_chars == *"${version:0:1}"* ]] || bad "VERSION must start with a letter, digit or _"
rest=${version:1}
for ((k = 0; k < ${#rest}; k++)); do
  [[ "$tag_chars.-" == *"${rest:k:1}"* ]] || bad "VERSION holds a character a tag cannot: ${rest:k:1}"
done
if ! count_ok "$port" || ((${#port} > 5)) || ((10#$port > 65535)); then bad "--port must be 1-65535"; fi
port=$((10#$port))
count_ok "$retries" || bad "--retries must be a positive integer"
while [[ $retries == 0* ]]; do retries=${retries#0}; done
((${#retries} <= 9)) || bad "--retries is too large"
retries=$((10#$retries))
decimal_ok "$interval" || bad "--interval must be a positive number of seconds"
decimal_ok "$timeout_s" || bad "--timeout must be a positive number of seconds"

if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi

if [[ -n $previous && $previous == "$version" ]]; then
  say ERROR "refused: $version is already serving; a changed image needs a new tag"
  exit 1
fi

on_exit() {
  local rc=$?
  case $phase in
    stopped | started)
      say ERROR "rollback of $version begins"
      docker_do rm -f "$name-$version" || say ERROR "rollback: docker rm -f $name-$version failed"
      if [[ -n $previous ]]; then
        docker_do start "$name-$previous" || say ERROR "rollback: docker start $name-$previous failed"
      fi
      say ERROR "rollback finished; $previous is left as it was"
      exit 1 ;;
    building)
      exit 1 ;;
  esac
  exit "$rc"
}
trap on_exit EXIT

probe_once() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "$timeout_s" -m "$timeout_s" \
    "http://127.0.0.1:$port/health" 2>/dev/null) || code=${code:-000}
  [[ $code == 200 ]]
}

phase=building
say INFO "docker build $image:$version ($context)"
if ! docker_do build -t "$image:$version" "${build_args[@]}" "$context"; then
  say ERROR "build failed: nothing changed"
  exit 1
fi

phase=stopped
if [[ -n $previous ]]; then
  say INFO "stop $name-$previous"
  if ! docker_do stop "$name-$previous"; then
    say ERROR "could not stop $name-$previous"
    exit 1
  fi
fi

phase=started
say INFO "run $name-$version on 127.0.0.1:$port"
if ! docker_do run -d --name "$name-$version" -p "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version"; then
  say ERROR "docker run of $name-$version failed"
  exit 1
fi

attempt=1
until probe_once; do
  say WARN "check $attempt of $retries: not healthy"
  if ((attempt >= retries)); then
    say ERROR "$name-$version never passed its health check"
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$interval"
done
say INFO "check $attempt of $retries: healthy"

phase=promoting
if [[ -n $previous ]]; then
  docker_do rm -f "$name-$previous" || say WARN "could not remove $name-$previous; it stays stopped"
fi
dir=$(dirname -- "$state_file")
tmp=$(mktemp "$dir/.deploy-state.XXXXXX")
printf '%s\n' "$version" > "$tmp"
mv -f -- "$tmp" "$state_file"
phase=finished
say INFO "promoted $image:$version"
