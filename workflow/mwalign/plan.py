"""The experiment plan: every job's name, and one row per job, from a validated config.

The workflow (workflow/rules/common.smk) takes its wildcards' values from
:func:`make_plan`; ``mwalign plan`` prints :func:`job_table`. Job names are made in
:mod:`mwalign.jobs`; each stage's params slice (exactly the config a job depends on, so
a change elsewhere in the config reruns nothing) is made beside the stage's code:

- fetch_model: :func:`mwalign.models.params.fetch_params`
- sample: ``config.corpus`` and ``config.seed`` as they are (workflow/rules/sample.smk)
- translate, similarity, convert_ctranslate2: :mod:`mwalign.translate.params`
- assemble: :func:`mwalign.assemble.assemble_settings`
- teacher: ``config.teacher`` as it is (workflow/rules/teacher.smk)
- frozen (only for runs with ``drift_weight > 0``): :func:`mwalign.frozen.frozen_params`
- train: :func:`mwalign.train.params.train_params`
- select (a swept run's point, chosen on dev): :func:`mwalign.train.sweep.selection_params`
- evaluate: :func:`mwalign.evaluate.params.evaluate_params`
- report: :func:`mwalign.report.experiment.experiment_facts` and ``config.report``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mwalign import jobs
from mwalign.frozen import frozen_jobs
from mwalign.models.ids import model_slug
from mwalign.models.params import model_ids
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.train.params import derived_budget, row_languages, train_params


@dataclass(frozen=True)
class Plan:
    """Job names of one experiment, as the workflow's wildcards take them."""

    languages: list[str]
    shards: list[int]
    teacher: str  # slug of the teacher model
    train_jobs: list[str]
    trained_models: list[str]
    swept_models: dict[str, list[str]]
    base_models: dict[str, str]
    eval_models: list[str]
    tasks: list[str]
    model_ids: dict[str, str]


def make_plan(config: dict[str, Any]) -> Plan:
    """The job names of a validated ``config``."""
    return Plan(
        languages=list(config["languages"]),
        shards=jobs.shards(config),
        teacher=model_slug(config["teacher"]["model"]),
        train_jobs=jobs.train_jobs(config),
        trained_models=jobs.trained_models(config),
        swept_models=jobs.swept_models(config),
        base_models=jobs.base_models(config),
        eval_models=list(jobs.eval_models(config)),
        tasks=list(config["evaluate"]["tasks"]),
        model_ids=model_ids(config),
    )


def job_table(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per job of the experiment (stage, job name, what it depends on); a train
    row also gives k (``row_languages``), ``row_english``, ``match`` and the derived
    budget (:func:`~mwalign.train.params.derived_budget`: steps, rows per micro-batch,
    pairs)."""
    plan = make_plan(config)
    rows: list[dict[str, Any]] = [{"stage": "sample", "job": SOURCE_LANGUAGE}]
    rows += [
        {"stage": "fetch_model", "job": slug, "model": m} for slug, m in plan.model_ids.items()
    ]
    rows += [
        {"stage": "translate", "job": f"{lang}/{shard}", "backend": config["translate"]["backend"]}
        for lang in plan.languages
        for shard in plan.shards
    ]
    rows += [{"stage": "assemble", "job": "dataset"}, {"stage": "teacher", "job": plan.teacher}]
    rows += [{"stage": "frozen", "job": job} for job in frozen_jobs(config)]
    for job in plan.train_jobs:
        params = train_params(config, job)
        row = {
            "stage": "train",
            "job": job,
            "student": params["student"]["name"],
            "data": params["data"],
            "objective": params["objective"],
            "seed": params["seed"],
        }
        rows.append(
            row
            | {
                # the rows' languages and what the run trains on (train.match)
                "row_languages": row_languages(params),
                "row_english": params["train"]["row_english"],
                "match": params["train"]["match"],
                **derived_budget(params),
            }
            | ({"sweep_point": params["sweep_point"]} if "sweep_point" in params else {})
        )
    rows += [
        {"stage": "select", "job": model, "chosen_on": "dev", "among": len(points)}
        for model, points in plan.swept_models.items()
    ]
    rows += [
        {"stage": "evaluate", "job": f"{model}/{task}"}
        for model in plan.eval_models
        for task in plan.tasks
    ]
    rows.append({"stage": "report", "job": "report"})
    return rows
