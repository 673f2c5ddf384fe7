"""Which runs the report compares, decided in one place (:func:`plan_comparisons`).

- Multi-way vs En-X: every multi-way run against every En-X run with the same student
  and objective.
- Trained runs vs base: every trained run against its base student, when evaluated.

How the seeds of a planned pair are matched is :func:`mwalign.report.compare.pair_seeds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scores import BASE

MULTIWAY_VS_ENX = "multiway vs enx"
VS_BASE = "trained vs base"


@dataclass(frozen=True)
class Pairing:
    """One comparison: A − B, and which section of the report it belongs to."""

    run_a: str
    run_b: str
    kind: str  # MULTIWAY_VS_ENX | VS_BASE


def plan_comparisons(models: dict[str, dict]) -> list[Pairing]:
    """The comparisons of the runs described in ``models`` (model -> description, as
    :func:`mwalign.report.scores.describe_model` gives it), in the report's order."""
    runs = list({info["run"]: info for info in models.values()}.values())
    planned = [
        Pairing(multiway["run"], enx["run"], MULTIWAY_VS_ENX)
        for multiway in runs
        if multiway["data"] == "multiway"
        for enx in runs
        if enx["data"] == "enx"
        and enx["student"] == multiway["student"]
        and enx["objective"] == multiway["objective"]
    ]
    names = {info["run"] for info in runs}
    planned += [
        Pairing(info["run"], f"{BASE}-{info['student']}", VS_BASE)
        for info in runs
        if info["data"] != BASE and f"{BASE}-{info['student']}" in names
    ]
    return planned
