#!/usr/bin/env bash
# STUB(task 3) — delete this line when you start (while it is here, the tests report the task as not started).
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
# TODO(task 3): strict mode; parse and validate (bad input: usage on stderr, exit 2, before any command).
# TODO(task 3): docker build --tag IMAGE:VERSION; docker run --rm IMAGE:VERSION sh -c "$TEST_CMD"
#   (a failure exits 1 before anything is deployed).
#   docker mode: note the image of container NAME (docker inspect --format '{{.Config.Image}}'),
#   docker rm --force NAME, docker run --detach --name NAME --publish 127.0.0.1:PORT:8000 IMAGE:VERSION,
#   wait until docker inspect says running, curl /health with --max-time.
#   k8s mode: [kind load docker-image], kubectl set image deployment/NAME CONTAINER=IMAGE:VERSION,
#   kubectl rollout status --timeout, health via
#   kubectl get --raw /api/v1/namespaces/NS/services/NAME:PORT/proxy/health.
# TODO(task 4): every command under `timeout`; a failed rollout or health check is undone
#   (docker: rm the new container, run the previous image again; k8s: kubectl rollout undo,
#   then rollout status again) and the pipeline exits 1.
