#!/usr/bin/env bash
# STUB(task 3) — delete this line when you start (while it is here, the tests report the task as not started).
#
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
#
# usage: deploy.sh [options] VERSION
#   --image NAME        image repository; builds and runs NAME:VERSION (default ml-model; may hold a registry:port)
#   --name NAME         container name prefix; the container is NAME-VERSION (default ml-model)
#   --port PORT         host port on 127.0.0.1 the service answers on (default 8000)
#   --context DIR       docker build context (default .)
#   --build-arg K=V     passed to docker build (repeatable)
#   --label K=V         put on the container (repeatable)
#   --state-file PATH   file holding the version now serving (default .deployed-version)
#   --retries N         health checks before giving up (default 10)
#   --interval SECONDS  pause between health checks (default 1)
#   --timeout SECONDS   limit for one health request (default 5)
#   --docker PATH       docker binary (default docker, env DOCKER)
#   -h, --help          print the usage on stdout, exit 0
#
# TODO(task 3): strict mode; parse and validate the flags (bad input: usage on stderr, exit 2,
#   before any docker command); timestamped log lines on stdout.
# TODO(task 3): read the serving version from the state file; docker build -t IMAGE:VERSION;
#   docker stop NAME-PREVIOUS (keep it); docker run --detach --name NAME-VERSION
#   --publish 127.0.0.1:PORT:8000; health check with curl --max-time, --retries times;
#   docker rm -f NAME-PREVIOUS; write VERSION to the state file.
# TODO(task 4): a failed build exits 1 before anything else; a container that does not start
#   or never becomes healthy: docker rm -f NAME-VERSION first, then docker start NAME-PREVIOUS
#   (a step that fails is logged, the rollback goes on), log the rollback, exit 1.
#   Deploying the version already serving is refused: log it, exit 1, touch nothing.
