"""What an experiment will cost, before it runs: ``mwalign plan --cost CONFIG [OVERLAY...]``.

Per stage and in total: jobs, sentences to translate, encode or train on, tokens through
a model (and tokens to generate), training steps, FLOPs, and device time on a named GPU
(``--gpu h100``) or on this machine's CPU (``--device cpu``), with the assumptions that
produced them. The parts:

- :mod:`.work`: the work of each stage, from the config and the data at hand;
- :mod:`.shapes`: FLOPs per token of each model, from its config.json or a table;
- :mod:`.texts`: sentence lengths and the texts an evaluation encodes;
- :mod:`.rates`: FLOP/s of a GPU (data-sheet peak x utilisation, calibrated by
  bench/gpu_check.py where it ran) or of this CPU (a matrix-product probe).

Device time is FLOPs / (peak x utilisation) per kind of work, plus each job's start-up
(interpreter, imports, model load) while it holds its device. On a CPU, the wall time is
the core-seconds over the cores, of which the workflow's schedule keeps
:data:`CPU_BUSY` busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rates import Rates, cpu_rates, gpu_rates
from .shapes import model_shape
from .texts import CHARS_PER_TOKEN, SPECIAL_TOKENS, corpus_chars
from .work import KINDS, StageWork, experiment_work, train_work

# Share of the cores the workflow keeps busy on a CPU (91-95% measured in
# docs/performance.md, "The default experiment, end to end").
CPU_BUSY = 0.9


@dataclass(frozen=True)
class StageCost:
    """A stage's work and its device-seconds: computing, and its jobs' start-up."""

    work: StageWork
    compute_seconds: float
    start_seconds: float

    @property
    def seconds(self) -> float:
        return self.compute_seconds + self.start_seconds


def stage_costs(stages: list[StageWork], rates: Rates) -> list[StageCost]:
    """Device-seconds of each stage on ``rates``' device: on a GPU, the jobs that load a
    model pay their start-up on it; on a CPU every job does, a light one less."""
    costs = []
    for stage in stages:
        compute = sum(flops / rates.flops_per_second(kind) for kind, flops in stage.flops.items())
        start = stage.model_jobs * rates.job_start_seconds
        if rates.unit != "GPU":
            start += (stage.jobs - stage.model_jobs) * rates.light_job_start_seconds
        costs.append(StageCost(stage, compute, start))
    return costs


def estimate(
    config: dict[str, Any], *, gpu: str | None = None, root: str | Path = "."
) -> tuple[list[StageCost], Rates]:
    """Stage costs of a validated ``config`` on the GPU ``gpu`` (a key of
    :data:`.rates.GPUS`), or on this machine's CPU when ``gpu`` is None."""
    stages = experiment_work(config, root)
    if gpu is not None:
        rates = gpu_rates(gpu, root)
        return stage_costs(stages, rates), rates
    precisions = {
        "encode": config["evaluate"]["precision"],
        "train": config["train"]["precision"],
        "generate": "auto",
    }
    student = next(iter(config["students"].values()))["model"]
    rates = cpu_rates(precisions, model_shape(student, root).hidden)
    return stage_costs(stages, rates), rates


def _number(value: float) -> str:
    if value == 0:
        return ""
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}"


def format_costs(costs: list[StageCost], rates: Rates, config: dict[str, Any], root: Path) -> str:
    """The cost table with its assumptions, as Markdown."""
    hours = "GPU-hours" if rates.unit == "GPU" else "core-hours"
    lines = [
        f"Work and cost on {rates.device}",
        "",
        f"| stage | jobs | sentences | tokens (M) | generated tokens (M) | train steps "
        f"| TFLOP | {hours} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = StageWork("total", 0)
    for cost in costs:
        work = cost.work
        lines.append(
            f"| {work.stage} | {work.jobs} | {_number(work.sentences)} | "
            f"{_number(work.tokens / 1e6)} | {_number(work.generated_tokens / 1e6)} | "
            f"{_number(work.steps)} | {_number(sum(work.flops.values()) / 1e12)} | "
            f"{cost.seconds / 3600:.3f} |"
        )
        total.jobs += work.jobs
        for kind, flops in work.flops.items():
            total.add(kind, flops)
    seconds = sum(cost.seconds for cost in costs)
    lines.append(
        f"| **total** | {total.jobs} | | | | | {_number(sum(total.flops.values()) / 1e12)} | "
        f"**{seconds / 3600:.3f}** |"
    )
    start = sum(cost.start_seconds for cost in costs)
    lines += ["", f"of which job start-up: {start / 3600:.3f} {hours}."]
    if rates.unit == "core":
        wall = seconds / (rates.units * CPU_BUSY)
        lines.append(
            f"CPU time {seconds:,.0f} core-seconds; wall time about {wall:,.0f} s "
            f"({wall / 60:.1f} min) on {rates.units} cores kept {CPU_BUSY:.0%} busy."
        )
    used = [kind for kind in KINDS if total.flops.get(kind)]
    lines += ["", "Assumptions:", *assumptions(rates, config, root, used)]
    return "\n".join(lines)


def assumptions(rates: Rates, config: dict[str, Any], root: Path, kinds: list[str]) -> list[str]:
    """The assumptions behind the figures (``kinds``: the kinds of work done), one Markdown
    list item each."""
    chars, source = corpus_chars(config, root)
    items = [
        f"English corpus sentences average {chars:.0f} characters ({source}); tokens = "
        f"characters / {CHARS_PER_TOKEN:g} + {SPECIAL_TOKENS} special tokens + the input "
        "prefix, cut at max_seq_length; a translation is as long as its source.",
        "FLOPs count the products with weights: 2 per weight and token forward; a training "
        "token 6 (2 in the frozen bottom layers, 8 with gradient checkpointing); a generated "
        "token the decoder's layers and its projection onto the vocabulary, per beam. "
        "Attention scores, norms and activations are not counted.",
    ]
    for kind in kinds:
        if kind in rates.utilisation:
            share = rates.utilisation[kind]
            source = rates.sources.get(kind, "stated")
            items.append(f"{kind}: {share:.0%} of the peak; {source}.")
    if rates.unit == "GPU":
        start = (
            f"A job that loads a model starts in {rates.job_start_seconds:g} s while it "
            "holds its GPU"
        )
    else:
        start = (
            f"A job that loads a model starts in {rates.job_start_seconds:g} s on one core, "
            f"one that loads none in {rates.light_job_start_seconds:g} s"
        )
    items.append(
        f"{start} (interpreter, imports, model load: bench/job_startup.py); queue waits are "
        "not counted."
    )
    return [f"- {item}" for item in items]


__all__ = [
    "CPU_BUSY",
    "StageCost",
    "estimate",
    "experiment_work",
    "format_costs",
    "stage_costs",
    "train_work",
]
