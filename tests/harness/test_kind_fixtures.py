"""The kind tier's own logic, run against stand-in `kind` and `kubectl` executables.

No kind cluster can be created on the machines this suite is developed on, so the
fixture logic (naming, reuse, cleanup after a failed or interrupted create, namespace
hygiene, port-forward parsing and deadlines, the skip/require wiring) is tested
against the scripts in tests/harness/fakes/, which record every call and answer like
kind v0.27 and kubectl 1.32. The real tools run the same code in the kind tier.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlops_katas.infra import kind

pytest_plugins = ("pytester",)

FAKES = Path(__file__).parent / "fakes"


class FakeKind:
    """The stand-ins installed in a temporary bin folder, with their state and call log."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir()
        for name in ("kind", "kubectl", "_fakestate.py"):
            text = (FAKES / name).read_text()
            if text.startswith("#!"):
                text = f"#!{sys.executable}\n" + text.split("\n", 1)[1]
            target = self.bin / name
            target.write_text(text)
            target.chmod(0o755)
        self.state_file = folder / "state.json"
        self.log_file = folder / "calls.jsonl"
        self.log_file.write_text("")
        self.set(clusters=[], healthy=True)
        self.tools = kind.Tools(kind=str(self.bin / "kind"), kubectl=str(self.bin / "kubectl"))

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def set(self, **values) -> None:
        data = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        data.update(values)
        self.state_file.write_text(json.dumps(data))

    def calls(self, tool: str | None = None) -> list[dict]:
        entries = [json.loads(line) for line in self.log_file.read_text().splitlines() if line]
        return [e for e in entries if tool is None or e["tool"] == tool]

    def verbs(self, tool: str) -> list[str]:
        """'create cluster', 'get clusters', 'rollout status' ... in call order (kubectl flags dropped)."""
        out = []
        for call in self.calls(tool):
            args = [a for a in call["args"] if not a.startswith("-")]
            if tool == "kubectl" and "--kubeconfig" in call["args"]:
                args = [a for a in args if a != call["args"][call["args"].index("--kubeconfig") + 1]]
            if tool == "kubectl" and "-n" in call["args"]:
                args = [a for a in args if a != call["args"][call["args"].index("-n") + 1]]
            out.append(" ".join(args[:2]))
        return out


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKind:
    fake = FakeKind(tmp_path)
    monkeypatch.setenv("FAKE_KIND_STATE", str(fake.state_file))
    monkeypatch.setenv("FAKE_KIND_LOG", str(fake.log_file))
    return fake


@pytest.fixture
def cluster(fake: FakeKind, tmp_path: Path) -> kind.KindCluster:
    work = tmp_path / "work"
    work.mkdir()
    return kind.KindCluster(fake.tools, kind.KIND_CONFIG, work)


# --- naming ---------------------------------------------------------------------------------


def test_cluster_name_is_stable_for_the_same_config_and_image():
    config = kind.KIND_CONFIG.read_bytes()
    assert kind.cluster_name(config, kind.NODE_IMAGE) == kind.cluster_name(config, kind.NODE_IMAGE), \
        "the same config and node image should always give the same cluster name"


def test_cluster_name_changes_with_the_config_or_the_node_image():
    config = kind.KIND_CONFIG.read_bytes()
    name = kind.cluster_name(config, kind.NODE_IMAGE)
    assert kind.cluster_name(config + b"\n# changed", kind.NODE_IMAGE) != name, \
        "an edited cluster config should get a new cluster, not silently reuse the old one"
    assert kind.cluster_name(config, "kindest/node:v1.31.6") != name, "another node image should get a new cluster"


def test_cluster_name_is_a_valid_kind_name():
    name = kind.cluster_name(kind.KIND_CONFIG.read_bytes(), kind.NODE_IMAGE)
    assert name.startswith("katas-") and name.replace("-", "").isalnum() and name == name.lower(), \
        f"{name!r} should be lowercase letters, digits and dashes starting with 'katas-'"


def test_node_image_is_pinned_by_digest_and_matches_the_validated_version():
    from mlops_katas.infra import manifests

    assert "@sha256:" in kind.NODE_IMAGE, "the node image should be pinned by digest (kind's offline advice)"
    assert f":v{manifests.KUBERNETES_VERSION}." in kind.NODE_IMAGE, \
        "manifests are validated against the Kubernetes minor version the kind node runs"


# --- reuse and deletion -------------------------------------------------------------------------


def test_a_healthy_existing_cluster_is_reused_and_never_deleted(fake, cluster):
    fake.set(clusters=[cluster.name])
    with cluster.session(fresh=False, keep=False):
        pass
    assert "create cluster" not in fake.verbs("kind"), "a healthy cluster should be reused, not created again"
    assert "delete cluster" not in fake.verbs("kind"), "a cluster this run only reused must never be deleted"
    assert fake.state()["clusters"] == [cluster.name], "the reused cluster should still exist after the run"
    assert cluster.kubeconfig.read_text().startswith("apiVersion"), "the kubeconfig should be written for the run"


def test_an_unhealthy_existing_cluster_is_recreated(fake, cluster):
    fake.set(clusters=[cluster.name], healthy=False)
    with cluster.session(fresh=False, keep=True):
        assert fake.verbs("kind").count("delete cluster") == 1, "an unhealthy cluster should be deleted first"
        assert "create cluster" in fake.verbs("kind"), "then a new one should be created"


def test_a_missing_cluster_is_created_with_image_config_wait_and_own_kubeconfig(fake, cluster):
    with cluster.session(fresh=False, keep=True):
        pass
    create = next(c["args"] for c in fake.calls("kind") if c["args"][:2] == ["create", "cluster"])
    assert "--name" in create and create[create.index("--name") + 1] == cluster.name, "create the hashed name"
    assert create[create.index("--image") + 1] == kind.NODE_IMAGE, "create from the pinned node image"
    assert create[create.index("--config") + 1] == str(kind.KIND_CONFIG), "create from the repository's config"
    assert "--wait" in create, "creation should wait for the control plane (kind does not by default)"
    assert create[create.index("--kubeconfig") + 1] == str(cluster.kubeconfig), \
        "the kubeconfig should go to the run's temporary folder, never ~/.kube/config"


def test_a_created_cluster_is_kept_when_keep_is_set(fake, cluster):
    with cluster.session(fresh=False, keep=True):
        pass
    assert "delete cluster" not in fake.verbs("kind"), "locally a created cluster is kept for the next run"
    assert fake.state()["clusters"] == [cluster.name], "the created cluster should still exist"


def test_a_created_cluster_is_deleted_when_not_kept(fake, cluster):
    with cluster.session(fresh=False, keep=False):
        pass
    assert fake.state()["clusters"] == [], "a cluster this run created should be deleted when not kept (CI)"


def test_a_created_cluster_is_deleted_even_when_the_tests_raise(fake, cluster):
    with pytest.raises(RuntimeError):
        with cluster.session(fresh=False, keep=False):
            raise RuntimeError("a test blew up")
    assert fake.state()["clusters"] == [], "teardown should delete the created cluster after a failure too"


def test_fresh_replaces_a_healthy_cluster(fake, cluster):
    fake.set(clusters=[cluster.name])
    with cluster.session(fresh=True, keep=False):
        assert fake.verbs("kind").count("create cluster") == 1, "--kind-fresh should create a new cluster"
    assert fake.state()["clusters"] == [], "the fresh cluster was created by this run, so it is deleted"


@pytest.mark.parametrize(("fresh", "environ", "keep"), [
    (False, {}, True), (False, {"CI": "true"}, False), (True, {}, False), (True, {"CI": "1"}, False)])
def test_keep_policy_keeps_locally_and_deletes_in_ci_or_when_fresh(fresh, environ, keep):
    assert kind.keep_cluster(fresh, environ) is keep, \
        f"fresh={fresh}, environment {environ}: a created cluster should be {'kept' if keep else 'deleted'}"


# --- a create that fails, times out or is interrupted -------------------------------------------


def test_a_failed_create_deletes_the_partial_cluster(fake, cluster):
    fake.set(create="fail")
    with pytest.raises(kind.KindError, match="failed to init node"):
        cluster.ensure()
    assert fake.state()["clusters"] == [], "a half-created cluster should be deleted at once"
    assert cluster.created is False, "a deleted partial cluster is not this run's cluster any more"


def test_a_create_past_its_timeout_is_deleted(fake, cluster, monkeypatch):
    monkeypatch.setattr(kind, "CREATE_TIMEOUT_S", 1)
    fake.set(create="hang")
    with pytest.raises(kind.KindError, match="timeout"):
        cluster.ensure()
    assert fake.state()["clusters"] == [], "a create that ran past its timeout should leave no cluster"


def test_ctrl_c_during_create_deletes_the_partial_cluster_and_still_interrupts(fake, cluster):
    fake.set(create="hang")

    def interrupt_when_creating():
        deadline = time.monotonic() + 10
        while "create cluster" not in fake.verbs("kind") or not fake.state()["clusters"]:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_creating, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        cluster.ensure()
    assert "delete cluster" in fake.verbs("kind"), "Ctrl-C during create should still delete the cluster"
    assert fake.state()["clusters"] == [], "no half-made cluster should outlive an interrupted run"


# --- namespaces -----------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    return proc.pid


def test_stale_namespaces_of_finished_runs_are_reaped_and_live_ones_kept(fake, cluster):
    dead = str(_dead_pid())
    fake.set(clusters=[cluster.name], namespaces={
        "katas-old": {kind.MANAGED: "true", kind.OWNER_PID: dead},
        "katas-live": {kind.MANAGED: "true", kind.OWNER_PID: str(os.getpid())},
        "someone-elses": {"team": "ml"},
    })
    with cluster.session(fresh=False, keep=True):
        left = set(fake.state()["namespaces"])
    assert "katas-old" not in left, "a labelled namespace of a finished run should be deleted at session start"
    assert "katas-live" in left, "a namespace of a run that is still going must be left alone"
    assert "someone-elses" in left, "namespaces without our label must never be touched"


def test_a_test_namespace_is_labelled_and_deleted_even_when_the_test_fails(fake, cluster):
    fake.set(clusters=[cluster.name])
    cluster.ensure()
    with pytest.raises(AssertionError):
        with cluster.namespace() as ns:
            labels = fake.state()["namespaces"][ns.name]
            assert labels == {kind.MANAGED: "true", kind.OWNER_PID: str(os.getpid())}, \
                "the namespace should carry our label and this process id, set when it is created"
            raise AssertionError("the test failed")
    assert ns.name not in fake.state()["namespaces"], "the namespace should be deleted after a failing test"


def test_every_kubectl_call_uses_the_runs_kubeconfig(fake, cluster):
    fake.set(clusters=[cluster.name])
    with cluster.session(fresh=False, keep=True):
        with cluster.namespace() as ns:
            ns.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
            ns.rollout_status("model")
    for call in fake.calls("kubectl"):
        if call["args"][:2] != ["version", "--client"]:
            assert call["args"][:2] == ["--kubeconfig", str(cluster.kubeconfig)], \
                f"kubectl {call['args']} should use the run's kubeconfig, never the user's current context"


def test_apply_sends_all_documents_to_the_test_namespace(fake, cluster):
    fake.set(clusters=[cluster.name])
    cluster.ensure()
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}} for n in ("a", "b")]
    with cluster.namespace() as ns:
        ns.apply(docs)
    apply = next(c for c in fake.calls("kubectl") if "apply" in c["args"])
    assert apply["args"][apply["args"].index("-n") + 1] == ns.name, "apply should target the test's namespace"
    assert json.loads(apply["stdin"])["items"] == docs, "every document should be applied in one call"


def test_eviction_refused_by_a_budget_is_reported_not_raised(fake, cluster):
    fake.set(clusters=[cluster.name], evict="blocked")
    cluster.ensure()
    with cluster.namespace() as ns:
        allowed, why = ns.evict("model-0")
    assert allowed is False and "disruption budget" in why, "a refused eviction should come back as (False, why)"


# --- loading the image ------------------------------------------------------------------------------


def test_the_image_is_loaded_into_the_named_cluster(fake, cluster):
    fake.set(clusters=[cluster.name])
    cluster.load_image("katas/day03-model-server:abc")
    load = next(c["args"] for c in fake.calls("kind") if c["args"][:2] == ["load", "docker-image"])
    assert load[load.index("--name") + 1] == cluster.name and load[-1] == "katas/day03-model-server:abc", \
        "kind load should name the cluster (without --name it loads into 'kind') and the exact tag"


def test_a_containerd_image_store_falls_back_to_an_archive(fake, cluster):
    fake.set(clusters=[cluster.name], load="containerd-store")
    saved = []

    def save(tag, archive):
        saved.append(tag)
        archive.write_text(f"image {tag}")

    cluster.load_image("katas/day03-model-server:abc", save=save)
    assert saved == ["katas/day03-model-server:abc"], "the image should be saved to an archive once"
    assert fake.state()["loaded_archive"] == "image katas/day03-model-server:abc", \
        "kind load image-archive should receive the saved archive (kubernetes-sigs/kind#3795)"


def test_other_load_failures_are_not_hidden(fake, cluster):
    with pytest.raises(kind.KindError, match="no nodes found"):
        cluster.load_image("katas/x:1", save=lambda tag, archive: pytest.fail("no archive fallback expected"))


# --- port-forward ---------------------------------------------------------------------------------


def test_port_forward_uses_the_port_kubectl_reports(fake, cluster):
    fake.set(clusters=[cluster.name])
    cluster.ensure()
    with cluster.namespace() as ns:
        forward = ns.port_forward("svc/model", 8000)
        with socket.create_connection(("127.0.0.1", forward.local_port), timeout=5):
            pass
        args = next(c["args"] for c in fake.calls("kubectl") if "port-forward" in c["args"])
    assert args[-1] == ":8000", "kubectl should choose the local port (':8000'), so no two runs race for one"
    assert "127.0.0.1" in args, "the forward should listen on loopback only"
    assert forward.url == f"http://127.0.0.1:{forward.local_port}", "url should point at the forwarded port"


def test_port_forward_without_a_forwarding_line_stops_at_its_deadline(fake, cluster):
    fake.set(clusters=[cluster.name], forward="silent")
    cluster.ensure()
    with cluster.namespace() as ns:
        started = time.monotonic()
        with pytest.raises(kind.KindError, match="Forwarding from"):
            ns.port_forward("svc/model", 8000, deadline_s=0.5)
        assert time.monotonic() - started < 10, "the port-forward wait should stop at its deadline"
    pid = next(c["pid"] for c in fake.calls("kubectl") if "port-forward" in c["args"])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_port_forward_that_exits_reports_kubectls_message(fake, cluster):
    fake.set(clusters=[cluster.name], forward="fail")
    cluster.ensure()
    with cluster.namespace() as ns:
        with pytest.raises(kind.KindError, match="pod is not running"):
            ns.port_forward("svc/model", 8000)


def test_port_forwards_are_reopened_after_every_rollout(fake, cluster):
    fake.set(clusters=[cluster.name])
    cluster.ensure()
    with cluster.namespace() as ns:
        forward = ns.port_forward("svc/model", 8000)
        ns.rollout_status("model")
        ns.rollout_undo("model")
        forwards = [c for c in fake.calls("kubectl") if "port-forward" in c["args"]]
        assert len(forwards) == 3, "the forward should be re-opened after the rollout and after the undo"
        for old in forwards[:-1]:
            with pytest.raises(ProcessLookupError):
                os.kill(old["pid"], 0)
        with socket.create_connection(("127.0.0.1", forward.local_port), timeout=5):
            pass
    assert fake.verbs("kubectl").count("rollout status") == 2, "undo should wait for its own rollout"
    with pytest.raises(ProcessLookupError):
        os.kill(forwards[-1]["pid"], 0)


def test_wait_for_raises_at_its_deadline_naming_what_it_waited_for():
    with pytest.raises(TimeoutError, match="pods ready"):
        kind.wait_for(lambda: False, 0.2, "pods ready", interval_s=0.05)


# --- the probe ---------------------------------------------------------------------------------------


def test_probe_names_a_missing_kind_and_how_to_get_it(fake, monkeypatch):
    previous = kind.configure(kind.Tools(kind=None, kubectl=fake.tools.kubectl))
    try:
        reason = kind.probe()
    finally:
        kind.configure(previous)
    assert reason is not None and "kind not found" in reason and "kind.sigs.k8s.io" in reason, reason


def test_probe_rejects_kubectl_too_far_from_the_node_version(fake):
    fake.set(kubectl_minor="28")
    previous = kind.configure(fake.tools)
    try:
        reason = kind.probe()
    finally:
        kind.configure(previous)
    assert reason is not None and "skew" in reason and "1.28" in reason, reason


def test_probe_accepts_an_existing_cluster_of_this_run(fake):
    fake.set(clusters=[kind.cluster_name(kind.KIND_CONFIG.read_bytes(), kind.NODE_IMAGE)])
    previous = kind.configure(fake.tools)
    try:
        assert kind.probe() is None, "an existing cluster with our name means the tier can run"
    finally:
        kind.configure(previous)


def test_every_command_has_a_timeout():
    with pytest.raises(kind.KindError, match="timeout"):
        kind.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


# --- the plugin wiring, in a separate pytest run ---------------------------------------------------------

KIND_TEST = """
import pytest

@pytest.mark.kind
def test_needs_a_cluster(k8s_namespace):
    assert k8s_namespace.name.startswith("katas-")
"""


def _run(pytester: pytest.Pytester, *args: str, first: tuple[str, ...] = ()) -> pytest.RunResult:
    pytester.makepyfile(test_tier=KIND_TEST)
    return pytester.runpytest_subprocess(
        *first, "-p", "mlops_katas.plugin", "-p", "mlops_katas.infra.kind_fixtures", "-rs", *args, timeout=120)


@pytest.mark.parametrize("pytest_kind", ["loaded", "disabled"])
def test_kind_tests_skip_with_the_reason_when_kind_is_missing(pytester, pytest_kind):
    """All four options are accepted whether or not pytest-kind (which defines two of them) is loaded."""
    first = ("-p", "no:pytest-kind") if pytest_kind == "disabled" else ()
    result = _run(pytester, "--kind-fresh", "--kind-bin", "/nonexistent/kind", "--kubectl-bin",
                  "/nonexistent/kubectl", "--kind-image", "kindest/node:v1.32.2", first=first)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*kind tier skipped: kind not found*install kind*"])


def test_kind_tests_fail_under_require_kind_when_kind_is_missing(pytester):
    result = _run(pytester, "--kind-bin", "/nonexistent/kind", "--require", "kind")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*kind tier required but unavailable: kind not found*"])


def test_the_fixtures_run_a_test_in_its_own_namespace_on_a_reused_cluster(pytester, fake):
    name = kind.cluster_name(kind.KIND_CONFIG.read_bytes(), kind.NODE_IMAGE)
    fake.set(clusters=[name])
    result = _run(pytester, "--kind-bin", fake.tools.kind, "--kubectl-bin", fake.tools.kubectl, "--require", "kind")
    result.assert_outcomes(passed=1)
    assert fake.state()["namespaces"] == {}, "the test's namespace should be deleted at teardown"
    assert fake.state()["clusters"] == [name], "a reused cluster should survive the run"
    assert any(c["args"][:2] == ["get", "kubeconfig"] for c in fake.calls("kind")), \
        "the reused cluster's kubeconfig should be fetched for the run"
