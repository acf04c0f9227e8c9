#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

# fd 3 is the log; everything else anyone prints goes to stderr
exec 3>&1 1>&2

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
USAGE
}

usage_error() {
  printf 'deploy.sh: %s\n' "$1" >&2
  usage >&2
  exit 2
}

say() {
  printf '%(%Y-%m-%dT%H:%M:%SZ)T %-5s %s\n' -1 "$1" "$2" >&3
}

is_seconds() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

is_tag() {
  local LC_ALL=C
  ((${#1} >= 1 && ${#1} <= 128)) || return 1
  case $1 in
    [A-Za-z0-9_]*([A-Za-z0-9_.-])) return 0 ;;
    *) return 1 ;;
  esac
}

main() {
  local image=ml-model name=ml-model port=8000 context=. state=.deployed-version
  local retries=10 interval=1 timeout=5 docker=${DOCKER:-}
  local -a build_args=() labels=() positional=()

  while (($#)); do
    case $1 in
      -h|--help) usage >&3; exit 0 ;;
      --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker)
        (($# >= 2)) || usage_error "option $1 needs a value"
        case $1 in
          --image) image=$2 ;;
          --name) name=$2 ;;
          --port) port=$2 ;;
          --context) context=$2 ;;
          --build-arg) build_args+=(--build-arg "$2") ;;
          --label) labels+=(--label "$2") ;;
          --state-file) state=$2 ;;
          --retries) retries=$2 ;;
          --interval) interval=$2 ;;
          --timeout) timeout=$2 ;;
          --docker) docker=$2 ;;
        esac
        shift 2
        ;;
      -?*) usage_error "unknown option ${1%%=*}" ;;
      *) positional+=("$1"); shift ;;
    esac
  done

  ((${#positional[@]} == 1)) || usage_error "exactly one VERSION is needed (got ${#positional[@]})"
  local version=${positional[0]}
  is_tag "$version" || usage_error "VERSION is no valid image tag"
  [[ $port == +([0-9]) ]] || usage_error "bad --port"
  port=${port##+(0)}
  [[ -n $port && ${#port} -le 5 && $port -le 65535 ]] || usage_error "--port must be 1-65535"
  [[ $retries == +([0-9]) ]] || usage_error "bad --retries"
  retries=${retries##+(0)}
  [[ -n $retries ]] || usage_error "--retries must be at least 1"
  ((${#retries} <= 18)) || usage_error "--retries is too big"
  is_seconds "$interval" || usage_error "bad --interval"
  is_seconds "$timeout" || usage_error "bad --timeout"
  [[ -n $image && -n $name ]] || usage_error "--image and --name must not be empty"
  docker=${docker:-docker}

  local previous=
  if [[ -f $state ]]; then
    previous=$(<"$state")
    previous=${previous##+([[:space:]])}
    previous=${previous%%+([[:space:]])}
  fi

  if [[ -n $previous && $version == "$previous" ]]; then
    say ERROR "refusing to redeploy $version: it is the version already serving"
    exit 1
  fi

  d() { timeout 900 "$docker" "$@"; }

  rollback() {
    say ERROR "rollback of $version started"
    if ! d rm -f "$name-$version"; then say ERROR "rollback: docker rm -f $name-$version failed"; fi
    if [[ -n $previous ]]; then
      if d start "$name-$previous"; then
        say INFO "rollback: $name-$previous serves again"
      else
        say ERROR "rollback: docker start $name-$previous failed"
      fi
    fi
    say ERROR "deploy of $version failed"
    exit 1
  }

  say INFO "build $image:$version (context $context)"
  d build -t "$image:$version" "${build_args[@]}" "$context" || { say ERROR "build failed; nothing changed"; exit 1; }

  if [[ -n $previous ]]; then
    say INFO "stop $name-$previous"
    if ! d stop "$name-$previous"; then
      say ERROR "docker stop $name-$previous failed; deploy aborted"
      exit 1
    fi
  fi

  say INFO "run $name-$version on 127.0.0.1:$port"
  d run --detach --name "$name-$version" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version" \
    || { say ERROR "docker run failed"; rollback; }

  local left=$retries status
  until
    status=$(curl -q -s -o /dev/null -w '%{http_code}' --noproxy '*' --connect-timeout "$timeout" \
      --max-time "$timeout" "http://127.0.0.1:$port/health") || true
    [[ $status == 200 ]]
  do
    left=$((left - 1))
    say WARN "health check answered ${status:-000}; $left left"
    ((left > 0)) || rollback
    sleep "$interval"
  done
  say INFO "healthy"

  if [[ -n $previous ]]; then
    d rm -f "$name-$previous" || say WARN "could not remove $name-$previous (the new version serves anyway)"
  fi

  local dir tmp
  dir=$(dirname -- "$state")
  tmp=$(mktemp -p "$dir" ".deployed.XXXXXXXX")
  printf '%s\n' "$version" >"$tmp"
  mv -f -- "$tmp" "$state"
  say INFO "promoted $version"
}

main "$@"
