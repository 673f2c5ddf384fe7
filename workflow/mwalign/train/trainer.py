"""Stage `train`: one job per configured run, on sentence-transformers' Trainer with the
project's own loss modules.

:func:`train_run` trains in a work folder next to the output (checkpoints live there, so
a killed job resumes from its last checkpoint when rerun with the same settings), then
saves the model with its resolved config, provenance and loss curve into a temporary
folder and renames it onto ``out_dir``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers import SentenceTransformerTrainingArguments as TrainingArguments
from torch import nn
from transformers.trainer import TRAINER_STATE_NAME

from mwalign import files
from mwalign.models.load import apply_student_settings
from mwalign.paths import DEV_CURVE_FILE, LOSS_CURVE_FILE, MODEL_INFO_FILE, RUN_INFO_FILE
from mwalign.precision import Precision, precision_for
from mwalign.provenance import provenance
from mwalign.students import load_student
from mwalign.train.callbacks import (
    LOSS_STATE_FILE,
    LossStateCallback,
    NonFiniteLossError,
    load_loss_state,
    loss_curve_rows,
    loss_own_state,
    tensorboard_callbacks,
    write_loss_curve,
)
from mwalign.train.card import append_run_section, describe_run
from mwalign.train.data import (
    UniqueIdBatchSampler,
    UniqueIdBatchSamplers,
    build_dataset,
    read_train_rows,
    rows_languages,
)
from mwalign.train.dev import (
    dev_arguments,
    dev_callbacks,
    dev_curve_rows,
    dev_split,
    length_arguments,
    stop_record,
    write_dev_curve,
)
from mwalign.train.job import TrainJob
from mwalign.train.losses import LOSS_SETTINGS, build_loss
from mwalign.train.packing import packed_training
from mwalign.train.params import batch_size, derived_budget
from mwalign.train.record import sampler_batches, seen_record

log = logging.getLogger(__name__)

RUN_FILE = RUN_INFO_FILE
STUDENT_PROVENANCE_FILE = MODEL_INFO_FILE


class GuardedTrainer(SentenceTransformerTrainer):
    """The sentence-transformers Trainer, stopping at the first NaN or infinite loss.

    The step's loss is checked before its backward pass, so the weights are still the
    last good ones and the checkpoints already written are kept for inspection.
    ``objective`` names the run's objective, whose own settings the error suggests.
    """

    def __init__(self, *args: Any, objective: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objective = objective

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = result[0] if return_outputs else result
        if model.training and not torch.isfinite(loss.detach()).all():
            checkpoint = (
                last_complete_checkpoint(Path(self.args.output_dir), self.loss)
                if os.path.isdir(self.args.output_dir)
                else None
            )
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {self.state.global_step + 1}; training stopped. "
                f"Last good checkpoint: {checkpoint or 'none written yet'}. "
                f"{recovery_advice(self.objective)}, then rerun."
            )
        return result


def recovery_advice(objective: str) -> str:
    """What to change after a non-finite loss: the learning rate, the objective's own
    temperatures (:data:`~mwalign.train.losses.LOSS_SETTINGS`), the precision."""
    keys = [f"train.{key}" for key in LOSS_SETTINGS[objective] if key.endswith("temperature")]
    raise_them = f", raise {' or '.join(keys)}" if keys else ""
    return f"Lower train.learning_rate{raise_them} or use precision fp32"


def encoder_layers(model: SentenceTransformer) -> nn.ModuleList:
    """The transformer blocks of the student's encoder, bottom first."""
    backbone = model.transformers_model
    count = backbone.config.num_hidden_layers
    for module in backbone.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"no list of {count} transformer layers found in {type(backbone).__name__}")


def freeze_parameters(model: SentenceTransformer, embeddings: bool, layers: int) -> int:
    """Stop gradients to the word embeddings and/or the bottom ``layers`` transformer blocks
    (with every embedding weight below them); returns the number of frozen weights, each
    shared or tied tensor counted once.

    Frozen bottom layers also save their backward pass: autograd starts at the first
    block that trains.
    """
    backbone = model.transformers_model
    frozen: list[nn.Module] = []
    if embeddings:
        frozen.append(backbone.get_input_embeddings())
    if layers:
        blocks = encoder_layers(model)
        if layers > len(blocks):
            raise ValueError(
                f"train.freeze_layers = {layers}, but the student has {len(blocks)} layers"
            )
        frozen += [
            getattr(backbone, "embeddings", backbone.get_input_embeddings()),
            *blocks[:layers],
        ]
    for module in frozen:
        module.requires_grad_(False)
    return count_weights(p for m in frozen for p in m.parameters())


def count_weights(parameters) -> int:
    """Number of weights in ``parameters``, each tensor counted once however often it is named
    (a module frozen twice, input and output embeddings tied)."""
    unique = {id(p): p for p in parameters}
    return sum(p.numel() for p in unique.values())


def precision_flags(precision: Precision) -> dict[str, bool]:
    """The Trainer's mixed precision flags for a chosen precision (bf16 autocast on a GPU
    or a CPU, fp16 on a GPU; :func:`mwalign.precision.precision_for` turns fp16 on a CPU
    into fp32)."""
    return {"bf16": precision.name == "bf16", "fp16": precision.name == "fp16"}


def training_device() -> str:
    """The device type this process trains on (the Trainer takes a GPU where there is one)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def training_precision(params: dict) -> Precision:
    """``train.precision`` chosen for the device this process trains on."""
    return precision_for(params["train"]["precision"], training_device())


def training_kernels(model: SentenceTransformer, params: dict, precision: Precision) -> dict:
    """fp32 training on a CPU: the linear layers' kernels (BLAS or oneDNN, forward and
    backward), chosen by timing the model's own layer shapes (:mod:`mwalign.cpu_kernels`);
    the record of the choice, empty elsewhere."""
    if precision.name != "fp32" or training_device() != "cpu":
        return {}
    from mwalign.cpu_kernels import choose_fp32_kernels

    tokens = batch_size(params) * params["student"]["max_seq_length"]  # one view's batch
    return choose_fp32_kernels(model, tokens=tokens, backward=True)


def checkpointing_flag(enabled: bool) -> dict[str, bool]:
    """Gradient (activation) checkpointing, under the argument name this transformers uses."""
    if not enabled:
        return {}
    fields = TrainingArguments.__dataclass_fields__
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )
    return {name: True}


def training_arguments(
    params: dict,
    work_dir: Path,
    ids: list[int],
    precision: Precision,
    *,
    report_to: Sequence[str] = (),
    batch_sampler: Callable | None = None,
) -> TrainingArguments:
    """The Trainer's arguments of one job; ``ids``: the train rows' sentence ids;
    ``report_to``: experiment trackers to log to; ``batch_sampler``: the Trainer's batch
    sampler when it also batches dev rows (:class:`~mwalign.train.data.UniqueIdBatchSamplers`)."""
    hyper, budget = params["train"], derived_budget(params)
    checkpoints = hyper["checkpoint_every"] > 0
    steps_per_epoch = max(len(ids) // batch_size(params) // hyper["gradient_accumulation"], 1)
    arguments = dict(
        output_dir=str(work_dir),
        # train.steps (more for En-X with match: pairs), or epochs over the rows
        **length_arguments(hyper, budget["steps"], steps_per_epoch),
        per_device_train_batch_size=budget["batch_rows"],
        gradient_accumulation_steps=hyper["gradient_accumulation"],
        learning_rate=hyper["learning_rate"],
        weight_decay=hyper["weight_decay"],
        max_grad_norm=hyper["max_grad_norm"],
        **checkpointing_flag(hyper["gradient_checkpointing"]),
        **precision_flags(precision),
        # Without a GPU, torchrun launches become multi-CPU data parallel over gloo.
        use_cpu=training_device() == "cpu",
        seed=params["seed"],
        data_seed=params["seed"],
        prompts=params["student"]["prefix"] or None,
        batch_sampler=batch_sampler or functools.partial(UniqueIdBatchSampler, ids=ids),
        # The sampler makes global batches of distinct ids; each process takes its share.
        accelerator_config={"split_batches": True},
        dataloader_drop_last=True,
        dataloader_pin_memory=training_device() == "cuda",
        logging_steps=1,
        logging_nan_inf_filter=False,
        save_strategy="steps" if checkpoints else "no",
        save_steps=hyper["checkpoint_every"] if checkpoints else 500,
        save_total_limit=hyper["keep_checkpoints"],
        report_to=list(report_to) or "none",
        disable_tqdm=False,
    )
    arguments.update(dev_arguments(hyper, batch_size(params)))
    return TrainingArguments(**arguments)


def prepare_work_dir(work_dir: Path, params: dict) -> None:
    """Keep the work folder's checkpoints only when they were made with the same params."""
    params_file = work_dir / "params.json"
    if work_dir.exists():
        same = params_file.exists() and json.loads(params_file.read_text()) == params
        if not same:
            log.info("discarding %s: made with other settings", work_dir)
            shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(params, params_file)


def last_complete_checkpoint(work_dir: Path, loss: nn.Module) -> str | None:
    """The newest checkpoint folder in ``work_dir`` that was written completely, or None.

    The Trainer writes a checkpoint file by file, ``trainer_state.json`` after the weights,
    optimiser and RNG states, and :class:`LossStateCallback` then adds the loss's own
    weights. A job killed while saving leaves a folder without them; resuming from it
    fails (or restarts the step count), so such folders are skipped, and a rerun writes
    them again when it gets there.
    """
    if not work_dir.is_dir():
        return None
    needed = [TRAINER_STATE_NAME] + ([LOSS_STATE_FILE] if loss_own_state(loss) else [])
    folders = [p for p in work_dir.iterdir() if re.fullmatch(r"checkpoint-\d+", p.name)]
    for folder in sorted(folders, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        missing = [name for name in needed if not (folder / name).is_file()]
        if not missing:
            return str(folder)
        log.warning("skipping %s: written only in part (no %s)", folder, ", ".join(missing))
    return None


def student_provenance(student_path: Path) -> dict[str, Any]:
    path = Path(student_path) / STUDENT_PROVENANCE_FILE
    return files.read_json(path) if path.exists() else {"path": str(student_path)}


def save_outputs(trainer: SentenceTransformerTrainer, out_dir: Path, record: dict) -> None:
    """Save model, card, run record and loss curve into a temporary folder, then rename it.

    The student's input prefix is saved as the model's default prompt and its truncation
    length with the tokenizer, so plain ``SentenceTransformer(out_dir).encode`` embeds
    exactly as training and evaluation did.
    """
    tmp = out_dir.parent / f".{out_dir.name}.saving"
    if tmp.exists():
        shutil.rmtree(tmp)
    student = record["params"]["student"]
    apply_student_settings(
        trainer.model, prefix=student["prefix"], max_seq_length=student["max_seq_length"]
    )
    trainer.model.save_pretrained(str(tmp))
    append_run_section(tmp, record)
    save_projection = getattr(trainer.loss, "save_projection", None)
    if save_projection is not None and save_projection(tmp / "distill_projection"):
        record["distill_projection"] = "distill_projection"
    write_loss_curve(loss_curve_rows(trainer.state.log_history), tmp / LOSS_CURVE_FILE)
    if "stopped" in record["result"] and record["result"]["stopped"].get("dev_metric"):
        write_dev_curve(dev_curve_rows(trainer.state.log_history), tmp / DEV_CURVE_FILE)
    files.write_json(record, tmp / RUN_FILE)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def check_job_inputs(
    params: dict, *, ids: list[int], dataset_path: Path, student_path: Path
) -> None:
    """What the config checks could not know before the data and the student existed:
    checked before the job writes or removes anything."""
    from mwalign.limits import check_layers, check_seq_length, encoder_config
    from mwalign.train.checks import check_rows_per_step

    run = f"config.runs.{params['run']} (or config.train)"
    where = f"the train split of {dataset_path}"
    check_rows_per_step(key=f"{run} batch_ids", params=params, rows=len(set(ids)), where=where)
    model_config = encoder_config(student_path)
    if model_config is None:
        return
    student = params["student"]
    model = student["model"]
    key = f"config.students.{student['name']}.max_seq_length"
    check_seq_length(
        key=key, value=student["max_seq_length"], model_config=model_config, model=model
    )
    value = params["train"]["freeze_layers"]
    check_layers(key=f"{run} freeze_layers", value=value, model_config=model_config, model=model)


def seen_by_run(params: dict, trainer: SentenceTransformerTrainer, dataset_path: Path) -> dict:
    """The run's ``seen`` record (:func:`mwalign.train.record.seen_record`): its sampler's
    batches for the steps it trained, counted over the train rows' ids and languages."""
    rows = read_train_rows(params=params, dataset_path=Path(dataset_path))
    sampler = UniqueIdBatchSampler(
        trainer.train_dataset, batch_size(params), seed=trainer.args.seed, ids=rows["id"]
    )
    accumulation = params["train"]["gradient_accumulation"]
    return seen_record(
        sampler_batches(sampler, trainer.state.global_step * accumulation),
        ids=rows["id"],
        row_languages=rows_languages(params, rows),
        english_pairs_only=params["train"]["pairs"] == "english",
        batches_per_step=accumulation,
    )


def run_record(
    params: dict,
    trainer: SentenceTransformerTrainer,
    inputs: dict,
    resumed_from: str | None,
    metrics: dict,
) -> dict:
    """What mwalign_run.json holds: params, provenance (with input hashes), the derived
    budget (:func:`~mwalign.train.params.derived_budget`), what the run saw
    (:func:`seen_by_run`) and results."""
    teacher = inputs["teacher"] if params["teacher"] else None
    hashes = {"dataset": files.file_sha256(inputs["dataset"])}
    hashes["teacher"] = files.file_sha256(teacher) if teacher else None
    if inputs.get("frozen"):
        hashes["frozen"] = files.file_sha256(inputs["frozen"])
    dataset = trainer.train_dataset
    return {
        "params": params,
        # the objective as built: for soft and similarity_mse, "temperature" is the
        # student's tau and "teacher_temperature" the targets' tau
        "loss": {"name": type(trainer.loss).__name__, **trainer.loss.get_config_dict()},
        "provenance": provenance(
            "train",
            params,
            seed=params["seed"],
            student=student_provenance(Path(inputs["student"])),
            inputs=hashes,
        ),
        "budget": derived_budget(params),
        "seen": seen_by_run(params, trainer, inputs["dataset"]),
        "result": {
            "steps": trainer.state.global_step,
            "train_rows": len(dataset),
            "rows_per_step": batch_size(params),
            "views": len(dataset.column_names) - ("label" in dataset.column_names),
            "resumed_from": resumed_from,
            "final_loss": loss_curve_rows(trainer.state.log_history)[-1]["loss"],
            **metrics,
        },
    }


def train_run(job: TrainJob) -> dict:
    """Train one job in this process and save it as a sentence-transformers folder at
    ``job.out_dir`` (see :class:`mwalign.train.job.TrainJob` for what a job holds).

    Returns the run record saved as mwalign_run.json: the params, the loss as built, the
    provenance (with the inputs' sha256) and the result (steps, rows, final loss,
    precision, kernels, packing).
    """
    params = job.params
    work_dir = job.out_dir.parent / f".{job.out_dir.name}.work"
    dataset, ids = build_dataset(params, job.dataset_path, job.teacher_path)
    check_job_inputs(params, ids=ids, dataset_path=job.dataset_path, student_path=job.student_path)
    student = params["student"]
    model = load_student(
        job.student_path,
        pooling=student["pooling"],
        attention=student["attention"],
        max_seq_length=student["max_seq_length"],
        where=f"config.students.{student['name']}",
    )
    describe_run(model, params)  # before the Trainer, which adds the dataset's statistics
    hyper = params["train"]
    frozen = freeze_parameters(model, hyper["freeze_embeddings"], hyper["freeze_layers"])
    log.info("froze %d of %d weights", frozen, count_weights(model.parameters()))
    # labels are teacher embeddings, or (k-language rows) each row's language indices
    teacher_dim = len(dataset[0]["label"][0]) if params["teacher"] is not None else None
    loss = build_loss(params, model, teacher_dim)
    views = len(dataset.column_names) - ("label" in dataset.column_names)
    if hyper["drift_weight"] > 0:
        from mwalign.train.drift import drift_inputs

        dataset, loss = drift_inputs(job, dataset, ids, loss, views)
    precision = training_precision(params)
    kernels = training_kernels(model, params, precision)
    dev = dev_split(params, job.dataset_path, job.teacher_path)
    if dev and hyper["drift_weight"] > 0:
        from mwalign.train.drift import drift_dev_dataset

        dev = (drift_dev_dataset(job, dev[0], dev[1]), *dev[1:])
    samplers = UniqueIdBatchSamplers((dataset, ids), dev[:2] if dev else None)
    args = training_arguments(
        params, work_dir, ids, precision, report_to=job.report_to, batch_sampler=samplers
    )
    log.info("training process %d of %d", args.process_index + 1, args.world_size)
    if args.process_index == 0:
        prepare_work_dir(work_dir, params)
    stoppers = dev_callbacks(params)
    trainer = GuardedTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dev[0] if dev else None,
        evaluator=dev[2] if dev else None,
        loss=loss,
        objective=params["objective"],
        callbacks=[LossStateCallback(loss), *tensorboard_callbacks(job.log_dir), *stoppers],
    )
    trainer.accelerator.wait_for_everyone()
    checkpoint = last_complete_checkpoint(work_dir, trainer.loss)
    if checkpoint:
        log.info("resuming from %s", checkpoint)
        load_loss_state(trainer.loss, checkpoint)
    with packed_training(model, device=training_device()) as packing:
        output = trainer.train(resume_from_checkpoint=checkpoint)
    inputs = {"dataset": job.dataset_path, "student": job.student_path, "teacher": job.teacher_path}
    inputs["frozen"] = job.frozen_path if hyper["drift_weight"] > 0 else None
    if trainer.state.best_model_checkpoint:  # the best checkpoint's loss weights, too
        load_loss_state(trainer.loss, trainer.state.best_model_checkpoint)
    record = run_record(params, trainer, inputs, checkpoint, output.metrics)
    record["result"]["stopped"] = stop_record(params, trainer.state, stoppers)
    record["result"].update(precision.record())
    record["result"].update(kernels)
    record["result"].update(packing)
    if trainer.is_world_process_zero():
        save_outputs(trainer, job.out_dir, record)
        shutil.rmtree(work_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    log.info(
        "run %s: %d steps, final loss %.4f",
        params["job"],
        record["result"]["steps"],
        record["result"]["final_loss"],
    )
    return record
