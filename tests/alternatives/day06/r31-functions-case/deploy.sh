#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back when it fails.
set -euo pipefail
LC_ALL=C

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
  -h, --help    print this usage on stdout, exit 0
USAGE
}

die_usage() {
  echo "deploy.sh: $1" >&2
  usage >&2
  exit 2
}

log() {
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && $1 =~ [1-9] ]]
}

image=ml-model
name=ml-model
port=8000
context=.
state_file=.deployed-version
retries=10
interval=1
timeout=5
docker=${DOCKER:-docker}
build_args=()
labels=()
version=
versions=0

while (($# > 0)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --image | --name | --port | --context | --build-arg | --label | --state-file | --retries | --interval | --timeout | --docker)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --image) image=$2 ;;
        --name) name=$2 ;;
        --port) port=$2 ;;
        --context) context=$2 ;;
        --build-arg) build_args+=(--build-arg "$2") ;;
        --label) labels+=(--label "$2") ;;
        --state-file) state_file=$2 ;;
        --retries) retries=$2 ;;
        --interval) interval=$2 ;;
        --timeout) timeout=$2 ;;
        --docker) docker=$2 ;;
      esac
      shift 2
      ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *)
      versions=$((versions + 1))
      version=$1
      shift
      ;;
  esac
done

((versions == 1)) || die_usage "exactly one VERSION is needed, got $versions"
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "'$version' is not a valid image tag"
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
  die_usage "--port must be 1-65535, not '$port'"
fi
port=$((10#$port))
if ! [[ $retries =~ ^[0-9]+$ ]] || ((10#$retries == 0)); then
  die_usage "--retries must be a positive integer, not '$retries'"
fi
[[ $retries =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $retries"
retries=$((10#$retries))
is_positive_decimal "$interval" || die_usage "--interval must be a positive number of seconds, not '$interval'"
is_positive_decimal "$timeout" || die_usage "--timeout must be a positive number of seconds, not '$timeout'"

dock() {
  timeout 600 "$docker" "$@" >&2
}

previous=
if [[ -s $state_file ]]; then
  previous=$(<"$state_file")
  previous=${previous//[[:space:]]/}
fi

if [[ -n $previous && $previous == "$version" ]]; then
  log ERROR "version $version is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$version: $1"
  dock rm --force "$name-$version" || log ERROR "could not remove $name-$version"
  if [[ -n $previous ]]; then
    dock start "$name-$previous" || log ERROR "could not start $name-$previous again: nothing serves"
    log INFO "rollback done: $name-$previous serves again"
  fi
  exit 1
}

healthy() {
  local i code
  for ((i = 1; i <= retries; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$timeout" --max-time "$timeout" "http://127.0.0.1:$port/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$retries passed"
      return 0
    fi
    log WARN "health check $i/$retries failed (status ${code:-000})"
    if ((i < retries)); then
      sleep "$interval"
    fi
  done
  return 1
}

log INFO "building $image:$version from $context"
dock build -t "$image:$version" "${build_args[@]}" "$context" || { log ERROR "build of $image:$version failed"; exit 1; }

if [[ -n $previous ]]; then
  log INFO "stopping $name-$previous"
  dock stop "$name-$previous" || { log ERROR "could not stop $name-$previous: deploy stopped"; exit 1; }
fi

log INFO "starting $name-$version on 127.0.0.1:$port"
dock run --detach --name "$name-$version" --publish "127.0.0.1:$port:8000" "${labels[@]}" "$image:$version" \
  || roll_back "container $name-$version did not start"

healthy || roll_back "$name-$version never passed its health check"

if [[ -n $previous ]]; then
  log INFO "removing $name-$previous"
  dock rm --force "$name-$previous" || log WARN "could not remove $name-$previous"
fi

tmp=$(mktemp "$state_file.XXXXXX")
printf '%s\n' "$version" >"$tmp"
mv -f "$tmp" "$state_file"
log INFO "deployed $version"
