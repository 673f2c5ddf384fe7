"""The work an experiment implies, stage by stage: jobs, sentences, tokens, steps, FLOPs.

Job counts follow the workflow's job names (:mod:`mwalign.jobs`) and each stage's params;
token counts and FLOPs are estimates (:mod:`.texts`, :mod:`.shapes`). FLOPs are kept by
kind, since a device reaches a different share of its peak on each:

- ``encode``: a forward pass over input tokens (teacher, evaluation, the similarity
  check, a translator reading its source or prompt);
- ``train``: forward and backward passes of a training step (:meth:`.shapes.Shape.train_flops`);
- ``generate``: one decoding step per generated token and beam.

Training work comes from one function, :func:`train_work`, of a train job's resolved
params, so every setting that changes rows, sentences or steps per job is read there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mwalign import jobs
from mwalign.evaluate.params import OFFLINE_TASKS, evaluate_params
from mwalign.models.params import model_ids
from mwalign.train.params import derived_budget, row_languages, train_params
from mwalign.translate.params import (
    ctranslate2_models,
    model_family,
    similarity_params,
    translator_model,
)

from . import texts
from .shapes import Shape, model_shape

KINDS = ("encode", "train", "generate")


@dataclass
class StageWork:
    """What one stage does: its jobs (``model_jobs`` of them load a model, and hold a
    GPU on a cluster), sentences it processes, tokens through a model, optimiser steps,
    FLOPs by kind."""

    stage: str
    jobs: int
    model_jobs: int = 0
    sentences: int = 0
    tokens: float = 0.0
    generated_tokens: float = 0.0
    steps: int = 0
    flops: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, flops: float) -> None:
        self.flops[kind] = self.flops.get(kind, 0.0) + flops


@dataclass(frozen=True)
class TrainWork:
    """One train job: optimiser steps, rows (sentence ids) and sentences per step."""

    steps: int
    rows_per_step: int
    sentences_per_step: int


def train_work(params: dict[str, Any], train_rows: int | None = None) -> TrainWork:
    """Steps, rows and sentences per step of the train job with ``params``
    (:func:`mwalign.train.params.train_params`): ``batch_size`` rows per micro-batch times
    ``gradient_accumulation`` (:func:`mwalign.train.params.derived_budget`, which also
    gives the steps); a multi-way row is its k languages (``row_languages``, every
    language by default), an En-X row English plus one. A job trained for ``epochs``
    takes every epoch of its train rows (``train_rows``, derived by the matching, or the
    train split's size ``train_rows`` given here), so early stopping can only make it
    shorter; its dev evaluations are not counted."""
    hyper, budget = params["train"], derived_budget(params)
    rows = budget["batch_rows"] * hyper["gradient_accumulation"]
    views = row_languages(params) if params["data"] == "multiway" else 2
    steps = budget["steps"]
    if hyper.get("epochs") is not None:
        available = budget["train_rows"] or train_rows or rows
        if train_rows is not None:
            available = min(available, train_rows)
        steps = hyper["epochs"] * max(available // rows, 1)
    return TrainWork(steps=steps, rows_per_step=rows, sentences_per_step=rows * views)


class _Shapes:
    """Model shapes looked up once each, relative to the project folder ``root``."""

    def __init__(self, root: Path) -> None:
        self.root, self._known = root, {}

    def __call__(self, model_id: str) -> Shape:
        if model_id not in self._known:
            self._known[model_id] = model_shape(model_id, self.root)
        return self._known[model_id]


def _translate(config: dict[str, Any], chars: float, shapes: _Shapes) -> StageWork:
    settings = config["translate"]
    backend = settings["backend"]
    languages, size = config["languages"], config["corpus"]["size"]
    shard_jobs = len(languages) * len(jobs.shards(config))
    work = StageWork("translate", shard_jobs, 0 if backend == "reference" else shard_jobs)
    work.sentences = size * len(languages)
    if backend == "reference":
        work.notes.append("reference backend: looked up in the aligned corpus, no model")
        return work
    from mwalign.translate.prompts import render

    source = texts.tokens(chars)
    beams = 1 if backend == "vllm" else settings[backend]["num_beams"]  # vLLM: greedy here
    for lang in languages:
        shape = shapes(translator_model(config, lang)[0])
        family = "causal" if backend == "vllm" else model_family(settings[backend])
        prompt = source
        if family == "causal":  # the prompt around every sentence is read too
            prompt = texts.tokens(chars + len(render(settings[backend]["prompt"], "", lang)))
        work.add("encode", size * prompt * shape.forward_flops())
        work.add("generate", size * source * beams * shape.generation_flops())
        work.tokens += size * prompt
        work.generated_tokens += size * source * beams
    work.notes.append(f"generated tokens as many as the source's, x {beams} beam(s)")
    return work


def _similarity(config: dict[str, Any], chars: float, shapes: _Shapes) -> StageWork | None:
    settings = similarity_params(config)
    if settings is None:
        return None
    shard_jobs = len(config["languages"]) * len(jobs.shards(config))
    work = StageWork("similarity", shard_jobs, shard_jobs)
    work.sentences = 2 * config["corpus"]["size"] * len(config["languages"])
    per_sentence = texts.tokens(chars, prefix=settings["prefix"])
    work.tokens = work.sentences * per_sentence
    work.add("encode", work.tokens * shapes(settings["model"]).forward_flops())
    return work


def _teacher(config: dict[str, Any], chars: float, shapes: _Shapes) -> StageWork:
    teacher = config["teacher"]
    work = StageWork("teacher", 1, 1)
    work.sentences = config["corpus"]["size"] * len(teacher["languages"])
    work.tokens = work.sentences * texts.tokens(chars, prefix=teacher["prefix"])
    work.add("encode", work.tokens * shapes(teacher["model"]).forward_flops())
    return work


def _train(config: dict[str, Any], chars: float, shapes: _Shapes) -> StageWork:
    train_jobs = jobs.train_jobs(config)
    work = StageWork("train", len(train_jobs), len(train_jobs))
    for job in train_jobs:
        params = train_params(config, job)
        split = round(config["corpus"]["size"] * (1 - config["dataset"]["dev_fraction"]))
        steps = train_work(params, train_rows=split)
        student = params["student"]
        per_sentence = texts.tokens(
            chars, prefix=student["prefix"], max_length=student["max_seq_length"]
        )
        job_tokens = steps.steps * steps.sentences_per_step * per_sentence
        hyper = params["train"]
        per_token = shapes(student["model"]).train_flops(
            frozen_layers=hyper["freeze_layers"], checkpointing=hyper["gradient_checkpointing"]
        )
        work.steps += steps.steps
        work.sentences += steps.steps * steps.sentences_per_step
        work.tokens += job_tokens
        work.add("train", job_tokens * per_token)
    return work


def _eval_texts(config: dict[str, Any], model: str) -> list[texts.Texts]:
    """What one model's evaluation encodes, once the embedding cache has the repeats."""
    tasks = config["evaluate"]["tasks"]
    found = [texts.bible_pool(config)] if set(tasks) & set(OFFLINE_TASKS) else []
    for task in tasks:
        if task not in OFFLINE_TASKS:
            found.append(texts.mteb_texts(task, evaluate_params(config, model, task)))
    return found


def _evaluate(config: dict[str, Any], shapes: _Shapes) -> StageWork:
    models = jobs.eval_models(config)
    tasks = config["evaluate"]["tasks"]
    work = StageWork("evaluate", len(models) * len(tasks), len(models) * len(tasks))
    per_student: dict[str, list[texts.Texts]] = {}
    for model, student_name in models.items():
        student = config["students"][student_name]
        if student_name not in per_student:
            per_student[student_name] = _eval_texts(config, model)
        for found in per_student[student_name]:
            per_sentence = texts.tokens(
                found.chars, prefix=student["prefix"], max_length=student["max_seq_length"]
            )
            work.sentences += found.count
            work.tokens += found.count * per_sentence
            work.add(
                "encode", found.count * per_sentence * shapes(student["model"]).forward_flops()
            )
    work.notes.append("each model's sentences counted once (the embedding cache has repeats)")
    return work


def experiment_work(config: dict[str, Any], root: str | Path = ".") -> list[StageWork]:
    """The work of every stage of a validated ``config`` (data and models read relative
    to the project folder ``root``), in the order the stages run."""
    root = Path(root)
    shapes = _Shapes(root)
    chars, _ = texts.corpus_chars(config, root)
    stages = [
        StageWork("fetch_model", len(model_ids(config))),
        StageWork("sample", 1, sentences=config["corpus"]["size"]),
        StageWork("convert_ctranslate2", len(ctranslate2_models(config))),
        _translate(config, chars, shapes),
        _similarity(config, chars, shapes),
        StageWork("assemble", 1),
        _teacher(config, chars, shapes),
        _train(config, chars, shapes),
        _evaluate(config, shapes),
        StageWork("report", 1),
    ]
    return [stage for stage in stages if stage is not None and stage.jobs]
