"""The tests' fake world for the orchestration (provided; read it, do not edit it).

`FakeSteps` is a small world (a registry alias, a set of images, the version serving) with
the `steps` interface of the README. Every call is recorded in `calls`, moves the fake
clock by a known number of seconds (`COSTS`), and changes the world the way the real step
would, so the tests check what the world looks like after your `run`, not only what it
called. `fail="deploy"` makes that step raise (message `FAILED`) after doing half its work;
`undo_fail` makes an undo step raise.
"""

from __future__ import annotations


COSTS = {"train": 5.0, "gate": 3.0, "register": 1.0, "package": 7.0, "deploy": 4.0, "load": 10.0,
         "monitor": 2.0, "set_champion": 0.25, "remove_image": 0.5, "undeploy": 0.75, "serving": 0.0}


FAILED = "broke on purpose"


class StepFailed(RuntimeError):
    """What a failing fake step raises."""


class FakeSteps:
    """The README's `steps`, over a fake world. `champion`: the version the alias points at
    before the run (None: first deploy). `gate_passes`, `healthy`: the outcomes of the gate
    and the monitor. `fail`: a method that raises; `undo_fail`: an undo method that raises."""

    def __init__(self, clock, *, champion: str | None = "1", new_version: str | None = None, gate_passes=True,
                 healthy=True, fail: str | None = None, undo_fail: str | None = None, load=(40, 40, 0)) -> None:
        from earlier_days import gate

        self.gate_module = gate
        self.clock = clock
        self.calls: list[tuple] = []
        self.alias = champion
        self.new_version = new_version or str(int(champion or 0) + 1)
        self.images = {f"v{champion}"} if champion else set()
        self.serving_version = f"v{champion}" if champion else None
        self.gate_passes = gate_passes
        self.healthy = healthy
        self.fail = fail
        self.undo_fail = undo_fail
        self.load_counts = load
        self.registered: list[str] = []

    def _enter(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        self.clock.advance(COSTS[name])

    @property
    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def train(self):
        self._enter("train")
        if self.fail == "train":
            raise StepFailed(FAILED)
        return "models:/m-candidate"

    def gate(self, candidate):
        self._enter("gate", candidate)
        if self.fail == "gate":
            raise StepFailed(FAILED)
        g = self.gate_module
        checks = [g.Check("metric", self.gate_passes, 0.9, 0.85, "roc_auc: candidate 0.9000, champion 0.8400"),
                  g.Check("slices", True, 0.01, 0.05, "worst slice drop 0.0100 is within 0.05"),
                  g.Check("signature", True, 0, 0, "same input columns and types"),
                  g.Check("size", self.gate_passes, 2000, 100_000_000, "model artifacts 2000 bytes"),
                  g.Check("latency", True, 1.0, 50.0, "single-row latency 1.000 ms")]
        return g.GateReport(candidate, self.alias, checks)

    def register(self, report):
        self._enter("register", report)
        if self.fail == "register":
            raise StepFailed(FAILED)
        self.registered.append(self.new_version)
        self.alias = self.new_version
        return self.new_version

    def package(self, version):
        self._enter("package", version)
        if self.fail == "package":
            raise StepFailed(FAILED)
        self.images.add(f"v{version}")
        return f"katas/capstone-model:v{version}"

    def deploy(self, version):
        self._enter("deploy", version)
        if self.fail == "deploy" and version == self.new_version:
            self.serving_version = None  # the old container is gone, the new one never answered
            raise StepFailed(FAILED)
        if self.undo_fail == "deploy" and version != self.new_version:
            raise StepFailed(FAILED)
        if f"v{version}" not in self.images:
            raise RuntimeError(f"no image for v{version}")
        self.serving_version = f"v{version}"
        return "http://127.0.0.1:8000"

    def undeploy(self):
        self._enter("undeploy")
        if self.undo_fail == "undeploy":
            raise StepFailed(FAILED)
        self.serving_version = None

    def load(self, url):
        self._enter("load", url)
        if self.fail == "load":
            raise StepFailed(FAILED)
        import capstone

        return capstone.LoadResult(*self.load_counts)

    def monitor(self, url, load):
        self._enter("monitor", url, load)
        if self.fail == "monitor":
            raise StepFailed(FAILED)
        import capstone

        if self.healthy:
            return capstone.Verdict(True, "availability 1.000, p95 12.0 ms")
        return capstone.Verdict(False, "availability 0.000 below 0.99 (0 of 40 answered)")

    def set_champion(self, version):
        self._enter("set_champion", version)
        if self.undo_fail == "set_champion":
            raise StepFailed(FAILED)
        self.alias = version

    def remove_image(self, version):
        self._enter("remove_image", version)
        if self.undo_fail == "remove_image":
            raise StepFailed(FAILED)
        self.images.discard(f"v{version}")

    def serving(self):
        self._enter("serving")
        return self.serving_version
