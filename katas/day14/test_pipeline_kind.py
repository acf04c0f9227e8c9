"""Task 4 on a real kind cluster: pipeline.sh rolls a Deployment forward and undoes a bad rollout.

Skipped, with the reason, where kind is not installed ('katas doctor').
"""

import json
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.kind, pytest.mark.docker, pytest.mark.timeout(600), pytest.mark.task(taskno=4)]

IMAGE = "katas/day14-app"
NAME = "model"


def deployment(image: str) -> list[dict]:
    labels = {"app": NAME}
    probe = {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 2, "failureThreshold": 2}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME},
         "spec": {"replicas": 1, "progressDeadlineSeconds": 40, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": NAME, "image": image, "imagePullPolicy": "Never",
                                                        "ports": [{"containerPort": 8000}],
                                                        "readinessProbe": probe}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME},
         "spec": {"selector": labels, "ports": [{"port": 8000, "targetPort": 8000}]}},
    ]


def test_a_bad_rollout_is_undone_on_a_real_cluster(k8s_cluster, k8s_namespace, docker_base_image, standin_context,
                                                    learner_file, run_bash):
    def pipeline(version, *build_args):
        args = ["--mode", "k8s", "--image", IMAGE, "--name", NAME, "--namespace", k8s_namespace.name,
                "--context", str(standin_context), "--test-cmd", "python -m unittest -q checks_app", "--kind-cluster", k8s_cluster.name,
                "--rollout-timeout", "60", "--retries", "10", "--interval", "1", "--timeout", "3", "--step-timeout", "300",
                "--build-arg", f"BASE_IMAGE={docker_base_image}", "--build-arg", f"APP_VERSION={version}"]
        for item in build_args:
            args += ["--build-arg", item]
        env = {"KUBECONFIG": str(k8s_cluster.kubeconfig), "DOCKER": shutil.which("docker") or "docker",
               "KUBECTL": k8s_cluster.tools.kubectl, "KIND": k8s_cluster.tools.kind}
        return run_bash(learner_file("pipeline.sh"), [*args, version], env=env, timeout=500)

    subprocess.run(["docker", "build", "-q", "-t", f"{IMAGE}:v0", "--build-arg", f"BASE_IMAGE={docker_base_image}",
                    str(standin_context)], check=True, capture_output=True, timeout=300)
    k8s_cluster.load_image(f"{IMAGE}:v0")
    k8s_namespace.apply(deployment(f"{IMAGE}:v0"))
    k8s_namespace.rollout_status(NAME)

    good = pipeline("v1")
    assert good.returncode == 0, f"a healthy v1 should roll out (exit 0)\n{good.output}"
    bad = pipeline("v2", "APP_PORT=8001")
    assert bad.returncode == 1, f"v2 never becomes ready and should fail (exit 1)\n{bad.output}"
    spec = json.loads(k8s_namespace.kubectl("get", f"deployment/{NAME}", "-o", "json"))["spec"]
    image = spec["template"]["spec"]["containers"][0]["image"]
    assert image == f"{IMAGE}:v1", f"after the undo the Deployment should run {IMAGE}:v1 again, runs {image}"
