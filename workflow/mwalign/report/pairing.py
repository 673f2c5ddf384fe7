"""Which runs the report compares, decided in one place (:func:`plan_comparisons`).

- Multi-way vs En-X: a multi-way run against an En-X run with the same student and
  objective whose resolved training settings are otherwise equal
  (:func:`setting_differences`). Each such comparison has a matching (:func:`matching`:
  ids, sentences or pairs, declared by the En-X run). A candidate pair whose settings
  differ is listed as not compared, with the settings that differ.
- Trained runs vs base: every trained run against its base student, when evaluated.

The settings are what the planner resolved for each run
(:func:`mwalign.train.params.train_params`; :func:`resolved_runs` from a config, or the
``params`` a trained model's ``mwalign_run.json`` records); nothing here re-derives a
default. How the seeds of a planned pair are matched is
:func:`mwalign.report.compare.pair_seeds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mwalign.jobs import base_models, model_table
from mwalign.train.params import train_params

from .scores import BASE, JOB_KEYS

MULTIWAY_VS_ENX = "multiway vs enx"
VS_BASE = "trained vs base"

# Settings (flattened: ``train.steps``, ``student.model``) that may differ between a
# multi-way run and the En-X run it is compared with, and why. Every other key, one
# added later included, must be equal: ``train.row_languages`` and ``train.row_english``
# too, since an En-X run derives its pair budget from them.
MAY_DIFFER = {
    "data": "the difference the comparison measures",
    "train.enx_targets": "read by En-X runs only: how each En-X row's target is drawn",
    "train.match": "the declared matching: the En-X run derives its steps or rows from it",
    "train.checkpoint_every": "when a run saves checkpoints, not what it learns",
    "train.keep_checkpoints": "how many checkpoints stay on disk, not what a run learns",
}

# Values that train an En-X run alike, so an En-X run with one is compared as having
# any of them: each pair's higher-priority language (pair_priority) is English, as in
# priority, since every En-X pair has English. (``pairs: english`` is also vacuous on
# En-X data, but a multi-way run with it is an ablation of multi-way training, not the
# same recipe on other data: it stays a difference.)
ENX_ALIKE = {"train.label_strategy": ("priority", "pair_priority")}

# The protocol of arXiv 2602.21543, the only comparison its gains are shown beside:
# InfoNCE on multi-way rows of 4 languages with English in every row, every pair
# scored, against En-X runs that see as many training pairs (match: pairs).
PAPER_PROTOCOL = {
    "multiway": {
        "objective": "infonce",
        "train.row_languages": 4,
        "train.row_english": "always",
        "train.pairs": "all",
    },
    "enx": {"train.match": "pairs"},
}

ABSENT = object()


@dataclass(frozen=True)
class Pairing:
    """One comparison: A − B, and which section of the report it belongs to."""

    run_a: str
    run_b: str
    kind: str  # MULTIWAY_VS_ENX | VS_BASE
    matching: str = ""  # multi-way vs En-X: ids | sentences | pairs
    paper_protocol: bool = False


@dataclass(frozen=True)
class NotCompared:
    """A candidate pair the report does not compare, and why."""

    run_a: str
    run_b: str
    reason: str


@dataclass
class ComparisonPlan:
    """What a report compares, and the candidate pairs it does not compare."""

    compared: list[Pairing] = field(default_factory=list)
    not_compared: list[NotCompared] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The plan as text: one line per comparison and per pair left uncompared."""
        lines = []
        for pair in self.compared:
            how = f"matched on {pair.matching}" if pair.matching else "against its base student"
            paper = ", the paper's protocol" if pair.paper_protocol else ""
            lines.append(f"compared: {pair.run_a} vs {pair.run_b} ({how}{paper})")
        lines += [f"not compared: {n.run_a} vs {n.run_b}: {n.reason}" for n in self.not_compared]
        return lines

    def message(self) -> str:
        """The report rule's message: its outputs and :meth:`lines`, braces escaped for
        Snakemake's formatting."""
        text = "\n".join(["report; its comparisons:", *(f"  {x}" for x in self.lines())])
        return text.replace("{", "{{").replace("}", "}}")


def flat_settings(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``params`` with nested dicts flattened to dotted keys; job keys left out."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if not prefix and key in JOB_KEYS:
            continue
        if isinstance(value, dict):
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _same(key: str, a: Any, b: Any, b_is_enx: bool) -> bool:
    """Whether two runs' values of ``key`` train alike (``b`` an En-X run's or not)."""
    alike = ENX_ALIKE.get(key, ()) if b_is_enx else ()
    return a == b or (a in alike and b in alike)


def _show(value: Any) -> str:
    if value is ABSENT:
        return "absent"
    if value is None:
        return "null"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def setting_differences(multiway: dict[str, Any], enx: dict[str, Any]) -> list[str]:
    """The settings in which two runs' resolved params differ, as ``key (A vs B)``.

    Two runs are comparable when this is empty. Every resolved setting (student and its
    settings, objective, languages, teacher, every train setting) must be equal, except:

    - ``data``: what the comparison measures;
    - the matching an En-X run declares (``train.match``); the steps, rows per step and
      train rows it derives are not settings but
      :func:`mwalign.train.params.derived_budget`'s output, so the configured ``steps``,
      ``batch_ids`` and ``train_rows`` must still be equal;
    - ``train.enx_targets``: multi-way runs ignore it;
    - ``train.checkpoint_every`` and ``train.keep_checkpoints``: they change what is on
      disk, not what a run learns;
    - seeds (``job``, ``run``, ``replicate``, ``seed``): compared by
      :func:`mwalign.report.compare.pair_seeds`.

    An En-X run's ``label_strategy`` of priority or pair_priority trains alike and
    matches either (:data:`ENX_ALIKE`). A key one side lacks differs (a setting added
    later is compared by default).
    """
    a, b = flat_settings(multiway), flat_settings(enx)
    b_is_enx = enx["data"] == "enx"
    return [
        f"{key} ({_show(a.get(key, ABSENT))} vs {_show(b.get(key, ABSENT))})"
        for key in dict.fromkeys([*a, *b])
        if key not in MAY_DIFFER
        and not _same(key, a.get(key, ABSENT), b.get(key, ABSENT), b_is_enx)
    ]


def matching(enx: dict[str, Any]) -> str:
    """How an En-X run is matched to multi-way runs: ``ids``, ``sentences`` or ``pairs``."""
    return enx["train"]["match"]


def is_paper_protocol(multiway: dict[str, Any], enx: dict[str, Any]) -> bool:
    """Whether a comparable pair follows the paper's protocol (:data:`PAPER_PROTOCOL`)."""
    sides = {"multiway": flat_settings(multiway), "enx": flat_settings(enx)}
    return all(
        sides[side].get(key, ABSENT) == value
        for side, wanted in PAPER_PROTOCOL.items()
        for key, value in wanted.items()
    )


def _multiway_vs_enx(multiway: dict, enx: dict) -> Pairing | NotCompared:
    a, b = multiway["settings"], enx["settings"]
    unknown = [info["run"] for info in (multiway, enx) if info["settings"] is None]
    if unknown:
        return NotCompared(multiway["run"], enx["run"], f"settings of {', '.join(unknown)} unknown")
    differ = setting_differences(a, b)
    if differ:
        return NotCompared(multiway["run"], enx["run"], f"differ in {', '.join(differ)}")
    return Pairing(
        multiway["run"], enx["run"], MULTIWAY_VS_ENX, matching(b), is_paper_protocol(a, b)
    )


def plan_comparisons(models: dict[str, dict]) -> ComparisonPlan:
    """The comparisons of the runs described in ``models`` (model -> description, as
    :func:`mwalign.report.scores.describe_model` gives it, ``settings`` the run's resolved
    params or None), in the report's order; candidates that differ are not compared."""
    runs = list({info["run"]: info for info in models.values()}.values())
    plan = ComparisonPlan()
    for multiway in runs:
        for enx in runs:
            if (
                multiway["data"] == "multiway"
                and enx["data"] == "enx"
                and enx["student"] == multiway["student"]
                and enx["objective"] == multiway["objective"]
            ):
                outcome = _multiway_vs_enx(multiway, enx)
                (plan.compared if isinstance(outcome, Pairing) else plan.not_compared).append(
                    outcome
                )
    names = {info["run"] for info in runs}
    plan.compared += [
        Pairing(info["run"], f"{BASE}-{info['student']}", VS_BASE)
        for info in runs
        if info["data"] != BASE and f"{BASE}-{info['student']}" in names
    ]
    return plan


def resolved_runs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each run's resolved params (:func:`~mwalign.train.params.train_params` of its first
    trained model, seeds left out): what the report plans its comparisons from. A swept
    run's params are its settings without a point plus its ``sweep`` grid, so two swept
    runs compare when their grids are equal (each model is then its point chosen on dev)."""
    first = {}
    for model, run, _ in model_table(config):
        first.setdefault(run, model)
    return {
        run: {k: v for k, v in train_params(config, model).items() if k not in JOB_KEYS}
        | {"sweep": grid_text(config["runs"][run].get("sweep"))}
        for run, model in first.items()
    }


def grid_text(grid: dict[str, list] | None) -> str | None:
    """A run's ``sweep`` grid as one comparable value, ``key: v1 v2; ...`` (None: no sweep)."""
    if not grid:
        return None
    return "; ".join(f"{key}: {' '.join(map(str, values))}" for key, values in grid.items())


def config_comparisons(config: dict[str, Any]) -> ComparisonPlan:
    """The comparisons the report of a validated ``config`` will make."""
    models = {
        base: {"run": base, "student": student, "data": BASE, "objective": "none", "settings": None}
        for base, student in base_models(config).items()
    }
    for run, params in resolved_runs(config).items():
        models[run] = {
            "run": run,
            "student": params["student"]["name"],
            "data": params["data"],
            "objective": params["objective"],
            "settings": params,
        }
    return plan_comparisons(models)
