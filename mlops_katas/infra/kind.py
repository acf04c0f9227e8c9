"""kind clusters for the kind tier: finding the tools, one reusable cluster, namespaces, port-forwards.

pytest-kind is installed and its `--kind-bin`/`--kind-image` options are honoured
(kind_fixtures.py), but its `KindCluster` is not used, because it does not fit a
suite that must never leak or hang (read from its 22.11.1 source):
- it downloads kind and kubectl from GitHub when no path is given (no network here);
- `create()` runs `kind create cluster` without `--wait` or a timeout, and leaves a
  half-created cluster behind when that fails or is interrupted;
- its fixture deletes the cluster at the end even when it only reused an existing one;
- `port_forward()` picks a random port without checking it is free, and its retry loop
  has no `break`: it kills a working forwarder and starts over `retries` times;
- it writes `.pytest-kind/` into the working directory.

This module replaces those parts: the cluster is named after a hash of its config and
node image (a changed config gets a new cluster, an old one is never silently
mutated), reused when healthy, and deleted only if this run created it; a failed or
interrupted create is deleted at once. Each test gets a labelled namespace; kubectl
chooses the port-forward's local port and says which one it took. Every subprocess
has a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# From the kind v0.27.0 release notes. Kubernetes 1.32 is within kubectl's one-minor
# skew of the kubectl 1.31-1.33 clients; manifests.py validates against the same minor.
NODE_IMAGE = "kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f"
KIND_CONFIG = Path(__file__).resolve().parents[2] / "k8s" / "kind-config.yaml"
INSTALL_HINT = "https://kind.sigs.k8s.io/docs/user/quick-start/#installation ('katas doctor')"

MANAGED = "mlops-katas/managed"
OWNER_PID = "mlops-katas/pid"

PROBE_TIMEOUT_S = 15
KUBECTL_TIMEOUT_S = 60
CREATE_TIMEOUT_S = 300
DELETE_TIMEOUT_S = 120
LOAD_TIMEOUT_S = 300
FORWARD_DEADLINE_S = 30
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


class KindError(Exception):
    """A kind or kubectl command failed or ran past its timeout; the message has its output."""


# --- the tools ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    kind: str | None
    kubectl: str | None
    node_image: str = NODE_IMAGE

    @classmethod
    def find(cls, kind_bin: str | None = None, kubectl_bin: str | None = None,
             node_image: str | None = None) -> "Tools":
        """Explicit paths win; otherwise PATH. Nothing is ever downloaded."""
        return cls(kind=_which(kind_bin, "kind"), kubectl=_which(kubectl_bin, "kubectl"),
                   node_image=node_image or NODE_IMAGE)


def _which(explicit: str | None, name: str) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which(name)


_tools: Tools | None = None


def configure(tools: Tools | None) -> Tools | None:
    """Set the tools this run uses (from the command-line options); returns the previous ones."""
    global _tools
    previous, _tools = _tools, tools
    return previous


def current_tools() -> Tools:
    return _tools or Tools.find()


def run(args: list[str], *, timeout: float, input: str | None = None, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command with a timeout; failures and timeouts become KindError with the output's tail."""
    shown = " ".join([Path(args[0]).name, *args[1:]])[:300]
    try:
        # No input means an empty stdin, never the terminal's: `kubectl apply -f -` must not wait on it.
        done = subprocess.run(args, input=input, stdin=subprocess.DEVNULL if input is None else None,
                              capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise KindError(f"`{shown}` ran past its {timeout:g} s timeout") from None
    except OSError as exc:
        raise KindError(f"could not run {args[0]}: {exc}") from None
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-2000:]
        raise KindError(f"`{shown}` exited with {done.returncode}: {tail}")
    return done


def probe() -> str | None:
    """None when the kind tier can run here, else what is missing and how to get it."""
    tools = current_tools()
    if tools.kind is None:
        return f"kind not found (not on PATH, no usable --kind-bin); install kind v0.27+: {INSTALL_HINT}"
    if tools.kubectl is None:
        return ("kubectl not found (not on PATH, no usable --kubectl-bin); install kubectl 1.31-1.33: "
                "https://kubernetes.io/docs/tasks/tools/ ('katas doctor')")
    from .docker_engine import probe as docker_probe

    try:
        skew = version_skew(tools)
        if skew is not None:
            return skew
        if cluster_name(KIND_CONFIG.read_bytes(), tools.node_image) in clusters(tools):
            return None  # the run's cluster already exists, so its node image was here
    except KindError as exc:
        engine = docker_probe()
        if engine is not None:
            return f"kind runs its nodes in Docker, and {engine}"
        return f"kind or kubectl does not work here: {exc}"
    engine = docker_probe()
    if engine is not None:
        return f"kind runs its nodes in Docker, and {engine}"
    return _node_image_missing(tools.node_image)


def version_skew(tools: Tools) -> str | None:
    """kubectl talks to API servers at most one minor version away from its own."""
    out = run([tools.kubectl, "version", "--client", "-o", "json"], timeout=PROBE_TIMEOUT_S).stdout
    client = json.loads(out).get("clientVersion", {})
    node = re.search(r":v(\d+)\.(\d+)\.", tools.node_image)
    try:
        client_minor = int(re.sub(r"\D", "", str(client.get("minor", ""))))
    except ValueError:
        return None
    if node and abs(client_minor - int(node.group(2))) > 1:
        return (f"kubectl is 1.{client_minor} but the kind node runs Kubernetes {node.group(1)}.{node.group(2)}; "
                f"kubectl supports one minor version of skew: install kubectl 1.{int(node.group(2))}")
    return None


def _node_image_missing(image: str) -> str | None:
    import docker

    from .docker_engine import get_client

    try:
        get_client().images.get(image)
    except docker.errors.ImageNotFound:
        return (f"the kind node image is not present locally; run `docker pull {image}` once "
                "(a pull inside a test would have no sensible time limit)")
    except docker.errors.APIError as exc:
        return f"could not look up the kind node image {image}: {exc}"
    return None


def clusters(tools: Tools) -> list[str]:
    out = run([tools.kind, "get", "clusters"], timeout=PROBE_TIMEOUT_S).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def cluster_name(config: bytes, node_image: str) -> str:
    """Same config and node image, same name: the cluster is reused; change either, get a new one."""
    digest = hashlib.sha256(config + b"\0" + node_image.encode()).hexdigest()
    return f"katas-{digest[:8]}"


def keep_cluster(fresh: bool, environ: dict[str, str]) -> bool:
    """Locally a created cluster is kept for the next run; CI and --kind-fresh delete it."""
    return not fresh and not environ.get("CI")


# --- the cluster ----------------------------------------------------------------------


class KindCluster:
    def __init__(self, tools: Tools, config: Path, workdir: Path) -> None:
        self.tools = tools
        self.config = Path(config)
        self.name = cluster_name(self.config.read_bytes(), tools.node_image)
        self.kubeconfig = Path(workdir) / "kubeconfig"
        self.created = False

    # kind --------------------------------------------------------------------------

    def _kind(self, *args: str, timeout: float = PROBE_TIMEOUT_S, check: bool = True):
        return run([self.tools.kind, *args], timeout=timeout, check=check)

    def exists(self) -> bool:
        return self.name in clusters(self.tools)

    def healthy(self) -> bool:
        """Writes this cluster's kubeconfig, then asks the API server's /readyz."""
        try:
            config = self._kind("get", "kubeconfig", "--name", self.name).stdout
            self.kubeconfig.write_text(config, encoding="utf-8")
            self.kubeconfig.chmod(0o600)
            return self.kubectl("get", "--raw", "/readyz", timeout=PROBE_TIMEOUT_S).strip() == "ok"
        except KindError:
            return False

    def ensure(self, fresh: bool = False) -> None:
        """Reuse a healthy cluster of this name (unless `fresh`); otherwise (re)create it."""
        if self.exists():
            if not fresh and self.healthy():
                return
            self.delete()
        self._create()

    def _create(self) -> None:
        self.created = True
        try:
            self._kind("create", "cluster", "--name", self.name, "--image", self.tools.node_image,
                       "--config", str(self.config), "--kubeconfig", str(self.kubeconfig), "--wait", "180s",
                       timeout=CREATE_TIMEOUT_S)
        except BaseException:
            # Also on KeyboardInterrupt: a half-made cluster must not outlive the run.
            try:
                self.delete(check=False)
            except KindError:
                pass  # the create's own failure (or the Ctrl-C) is what must reach the user
            self.created = False
            raise

    def delete(self, check: bool = True) -> None:
        self._kind("delete", "cluster", "--name", self.name, timeout=DELETE_TIMEOUT_S, check=check)

    @contextmanager
    def session(self, fresh: bool, keep: bool) -> Iterator["KindCluster"]:
        """The run's cluster: ready on enter; deleted on exit only if created here and not kept."""
        self.ensure(fresh)
        try:
            self.reap_stale_namespaces()
            yield self
        finally:
            if self.created and not keep:
                self.delete(check=False)

    def load_image(self, tag: str, save: Callable[[str, Path], None] | None = None) -> None:
        """`kind load` skips nodes that already hold the image, so a warm run costs a second.

        Docker's containerd image store (the default from Docker 29) breaks `kind load
        docker-image` with "content digest ... not found" (kubernetes-sigs/kind#3795);
        then the image goes in as an archive written by `docker save`.
        """
        try:
            self._kind("load", "docker-image", "--name", self.name, tag, timeout=LOAD_TIMEOUT_S)
        except KindError as exc:
            if "digest" not in str(exc):
                raise
            import tempfile

            with tempfile.TemporaryDirectory(prefix="katas-image-") as folder:
                archive = Path(folder) / "image.tar"
                (save or _docker_save)(tag, archive)
                self._kind("load", "image-archive", "--name", self.name, str(archive), timeout=LOAD_TIMEOUT_S)

    # kubectl -------------------------------------------------------------------------

    def kubectl_args(self, *args: str) -> list[str]:
        return [self.tools.kubectl, "--kubeconfig", str(self.kubeconfig), *args]

    def kubectl(self, *args: str, timeout: float = KUBECTL_TIMEOUT_S, input: str | None = None,
                check: bool = True) -> str:
        return run(self.kubectl_args(*args), timeout=timeout, input=input, check=check).stdout

    def reap_stale_namespaces(self) -> None:
        """Namespaces a killed run left behind: labelled as ours, owned by a process that is gone."""
        listing = json.loads(self.kubectl("get", "namespaces", "-l", f"{MANAGED}=true", "-o", "json"))
        for item in listing.get("items", []):
            labels = item.get("metadata", {}).get("labels", {})
            if not _alive(labels.get(OWNER_PID, "")):
                self.kubectl("delete", "namespace", item["metadata"]["name"], "--wait=false",
                             "--ignore-not-found", check=False)

    @contextmanager
    def namespace(self, prefix: str = "katas") -> Iterator["Namespace"]:
        ns = Namespace(self, f"{prefix}-{uuid.uuid4().hex[:8]}")
        ns.create()
        try:
            yield ns
        finally:
            ns.close()


def _docker_save(tag: str, archive: Path) -> None:
    from .docker_engine import get_client

    with archive.open("wb") as out:
        for chunk in get_client().images.get(tag).save(named=True):
            out.write(chunk)


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- one test's namespace -----------------------------------------------------------------


class Namespace:
    def __init__(self, cluster: KindCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self._forwards: list[PortForward] = []

    def kubectl(self, *args: str, **kwargs) -> str:
        return self.cluster.kubectl("-n", self.name, *args, **kwargs)

    def create(self) -> None:
        """Created with its labels in one call, so an interrupted run cannot leave it unlabelled."""
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": self.name, "labels": {MANAGED: "true", OWNER_PID: str(os.getpid())}}}
        self.cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))

    def close(self) -> None:
        for forward in self._forwards:
            forward.close()
        self._forwards.clear()
        self.cluster.kubectl("delete", "namespace", self.name, "--wait=false", "--ignore-not-found", check=False)

    def apply(self, docs: list[dict]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def get(self, resource: str, selector: str | None = None) -> dict:
        """`kubectl get RESOURCE [-l SELECTOR] -o json`, parsed."""
        return json.loads(self.kubectl("get", resource, *(["-l", selector] if selector else []), "-o", "json"))

    def rollout_status(self, deployment: str, timeout_s: int = 120) -> None:
        """Waits for the rollout, then re-opens every port-forward: the old one was bound to a replaced pod."""
        self.kubectl("rollout", "status", f"deployment/{deployment}", f"--timeout={timeout_s}s",
                     timeout=timeout_s + 15)
        for forward in self._forwards:
            forward.reopen()

    def rollout_undo(self, deployment: str, timeout_s: int = 120) -> None:
        self.kubectl("rollout", "undo", f"deployment/{deployment}")
        self.rollout_status(deployment, timeout_s)

    def evict(self, pod: str) -> tuple[bool, str]:
        """Ask for an eviction as `kubectl drain` does; (False, why) when a disruption budget refuses."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": self.name}}
        done = run(self.cluster.kubectl_args("create", "--raw", f"/api/v1/namespaces/{self.name}/pods/{pod}/eviction",
                                             "-f", "-"), input=json.dumps(body), timeout=KUBECTL_TIMEOUT_S,
                   check=False)
        return done.returncode == 0, (done.stderr or done.stdout).strip()

    def port_forward(self, target: str, port: int, deadline_s: float = FORWARD_DEADLINE_S) -> "PortForward":
        """An open forward to `target` (e.g. 'svc/model-server'); closed with the namespace."""
        forward = PortForward(self.cluster.kubectl_args("-n", self.name), target, port, deadline_s)
        forward.open()
        self._forwards.append(forward)
        return forward

    def describe(self) -> str:
        """What a failing test's report shows: pods and recent events."""
        parts = []
        for args in (("get", "pods", "-o", "wide"), ("get", "events", "--sort-by=.lastTimestamp")):
            parts.append(self.kubectl(*args, check=False, timeout=PROBE_TIMEOUT_S))
        return "\n".join(parts)


class PortForward:
    """`kubectl port-forward TARGET :PORT`: kubectl picks a free local port and prints it.

    The output goes to a file rather than a pipe, so kubectl never blocks on a full
    pipe that nobody reads while the test sends requests.
    """

    def __init__(self, kubectl_args: list[str], target: str, port: int, deadline_s: float) -> None:
        self.args = [*kubectl_args, "port-forward", "--address", "127.0.0.1", target, f":{port}"]
        self.deadline_s = deadline_s
        self.local_port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def open(self) -> int:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="katas-port-forward-", suffix=".log")
        self._log = Path(name)
        with os.fdopen(fd, "w") as out:
            self._proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        deadline = time.monotonic() + self.deadline_s
        while True:
            text = self.output()
            match = FORWARDING.search(text)
            if match:
                self.local_port = int(match.group(1))
                return self.local_port
            if self._proc.poll() is not None or time.monotonic() > deadline:
                why = (f"exited with {self._proc.returncode}" if self._proc.poll() is not None
                       else f"printed no 'Forwarding from' line within {self.deadline_s:g} s")
                self.close()
                raise KindError(f"kubectl port-forward {why}: {text.strip()[-1000:]}")
            time.sleep(0.05)

    def output(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace") if self._log else ""

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def reopen(self) -> int:
        self.close()
        return self.open()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.5) -> None:
    """Poll `check` until it returns True; raise TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(interval_s)
