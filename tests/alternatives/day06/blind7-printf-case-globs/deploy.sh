#!/usr/bin/env bash
# deploy.sh: build, swap, health-check, promote or roll back.
set -o errexit -o nounset -o pipefail

print_usage() {
  cat <<'TXT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
TXT
}
bad() { printf 'deploy.sh: %s\n' "$1" >&2; print_usage >&2; exit 2; }

# Log lines go to fd 3 (the original stdout); docker's chatter goes to stderr.
exec 3>&1
say() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%S)TZ [%s] %s\n' -1 "$1" "$2" >&3; }

positive_decimal() {
  case $1 in ''|*[!0-9.]*|*.*.*|.) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}
positive_int() {
  case $1 in ''|*[!0-9]*) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}

image=ml-model name=ml-model port=8000 context=. state_file=.deployed-version
retries=10 interval=1 timeout_s=5 docker_bin=${DOCKER:-docker}
declare -a build_args=() labels=() versions=()

while [[ $# -gt 0 ]]; do
  flag=$1
  case $flag in
    -h|--help) print_usage; exit 0 ;;
    --*)
      case $flag in
        --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker) ;;
        *) bad "unknown option ${flag%%=*}" ;;
      esac
      [[ $# -ge 2 ]] || bad "$flag needs a value"
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
        --docker) docker_bin=$value ;;
      esac ;;
    -*) bad "unknown option ${flag%%=*}" ;;
    *) versions+=("$flag"); shift ;;
  esac
done

[[ ${#versions[@]} -eq 1 ]] || bad "give exactly one VERSION"
version=${versions[0]}
tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
[[ $version =~ $tag_re ]] || bad "VERSION is not a valid tag"
positive_int "$port" || bad "bad --port"
((${#port} <= 5)) || bad "bad --port"
port=$((10#$port))
[[ $port -le 65535 ]] || bad "bad --port"
positive_int "$retries" || bad "bad --retries"
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || bad "--retries has more than 18 digits: $retries"
positive_decimal "$interval" || bad "bad --interval"
positive_decimal "$timeout_s" || bad "bad --timeout"

docker_cmd() { timeout 600 "$docker_bin" "$@" 1>&2; }

previous=
if [[ -f $state_file ]]; then
  read -r previous < "$state_file" || true
fi
[[ $version != "$previous" ]] || { say ERROR "$version is already serving, nothing to deploy"; exit 1; }

new_container=$name-$version
old_container=${previous:+$name-$previous}

restore() {
  say ERROR "rollback: removing $new_container"
  if ! docker_cmd rm -f "$new_container"; then
    say ERROR "rollback: rm -f $new_container failed, carrying on"
  fi
  if [[ -n $old_container ]]; then
    say ERROR "rollback: starting $old_container again"
    docker_cmd start "$old_container" || say ERROR "rollback: start $old_container failed"
  fi
  exit 1
}

probe_until_healthy() {
  local n=0 code
  while ((n < 10#$retries)); do
    if ((n > 0)); then sleep "$interval"; fi
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{response_code}' -m "$timeout_s" "http://127.0.0.1:$port/health" || :)
    say INFO "health probe $n: status ${code:-none}"
    [[ $code != 200 ]] || return 0
  done
  return 1
}

say INFO "build $image:$version from $context"
if ! docker_cmd build --tag "$image:$version" "${build_args[@]}" "$context"; then
  say ERROR "build of $image:$version failed"
  exit 1
fi
if [[ -n $old_container ]]; then
  say INFO "stop $old_container"
  docker_cmd stop "$old_container" || say WARN "could not stop $old_container"
fi
say INFO "run $new_container on 127.0.0.1:$port"
docker_cmd run -d --name "$new_container" -p "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version" || restore
probe_until_healthy || restore
if [[ -n $old_container ]]; then
  say INFO "remove $old_container"
  docker_cmd rm -f "$old_container" || say WARN "could not remove $old_container; remove it by hand"
fi
state_tmp=$(mktemp "$state_file.XXXXXX")
printf '%s\n' "$version" > "$state_tmp"
mv -f "$state_tmp" "$state_file"
say INFO "promoted $version"
