"""The HorizontalPodAutoscaler's replica rule, as the Kubernetes controller applies it.

Knowing the rule lets you predict what an HPA will do before a traffic spike does it
for you: how far one scrape of high CPU moves the replica count, why small wobbles
change nothing (the tolerance band), and why the answer is always rounded up.
"""

from __future__ import annotations


def desired_replicas(current_replicas: int, current_value: float, target_value: float,
                     min_replicas: int, max_replicas: int, tolerance: float = 0.1) -> int:
    """Replicas the HPA asks for when the metric reads `current_value` against `target_value`.

    ratio = current_value / target_value (plain float arithmetic); if abs(ratio - 1) <=
    tolerance the count stays `current_replicas`, otherwise it becomes
    ceil(current_replicas * ratio); the result is then clamped to [min_replicas,
    max_replicas]. ValueError when current_replicas < 1, current_value < 0,
    target_value <= 0, min_replicas < 1, max_replicas < min_replicas or tolerance < 0.
    """
    # TODO(task 1): check the arguments, compute the ratio, apply the tolerance band,
    # round up, then clamp. README task 1 and 'katas hint day10' help.
    raise NotImplementedError("task 1")
