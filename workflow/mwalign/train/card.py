"""The model card (README.md) of a trained run's folder.

sentence-transformers writes the card when the model is saved, from its
``model_card_data`` and what the Trainer recorded (hyperparameters, the loss, the
training logs, library versions). This module fills in what the library cannot know:
the name, languages and training data of the run, and appends a section naming the
objective, the data, the steps and the input prefix. Scores do not exist when the model
is saved: the card names the files that hold them once the evaluation and report have
run; the report writes this card with its headline scores (:mod:`mwalign.report.cards`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mwalign.paths import SOURCE_LANGUAGE
from mwalign.train.dev import stop_text
from mwalign.train.losses import loss_settings

OBJECTIVE_TEXT = {
    "infonce": (
        "InfoNCE with hard labels (the same sentence in another language is the positive, "
        "the other sentences of the batch the negatives)"
    ),
    "soft": (
        "IMASCL soft contrastive loss: targets row_softmax(T / tau) from the teacher's similarities"
    ),
    "similarity_mse": "MSE between the student's and the teacher's similarity matrices",
    "embedding_mse": "MSE of the student's embeddings onto the teacher's English embeddings",
}
DATA_TEXT = {
    "multiway": "multi-way parallel (every English sentence in every language)",
    "enx": "English-centric En-X (each English sentence with one target language)",
}


def describe_run(model: Any, params: dict[str, Any]) -> None:
    """Set the card fields of ``model.model_card_data`` that describe the run ``params``;
    call before the Trainer is made (it completes ``train_datasets`` with the data's
    statistics when training begins)."""
    card = model.model_card_data
    student = params["student"]["model"]
    card.model_name = (
        f"mwalign {params['job']}: {student} ({params['data']}, {params['objective']})"
    )
    card.language = [SOURCE_LANGUAGE, *params["languages"]]
    card.train_datasets = [{"name": f"mwalign {params['data']} dataset"}]
    card.task_name = "bitext mining and cross-lingual semantic similarity"
    card.tags = sorted({*card.tags, "mwalign", params["data"], params["objective"]})


def run_section(record: dict[str, Any]) -> str:
    """Markdown appended to the card: run, data, objective, steps, prefix, where the scores are."""
    params, result = record["params"], record["result"]
    job = params["job"]
    student = params["student"]
    hyper = params["train"]
    prefix = student["prefix"]
    inputs = record["provenance"].get("inputs", {})
    lines = [
        "",
        "## Training run (mwalign)",
        "",
        f"- **Run:** `{job}` (seed {params['seed']})",
        f"- **Student:** `{student['model']}`, "
        f"inputs truncated to {student['max_seq_length']} tokens",
        f"- **Input prefix:** `{prefix!r}`, saved as the default prompt: "
        "`SentenceTransformer(folder).encode(texts)` adds it itself (do not add it again)"
        if prefix
        else "- **Input prefix:** none",
        f"- **Training data:** {DATA_TEXT[params['data']]}, sha256 `{inputs.get('dataset', '?')}`",
        f"- **Languages:** en (source), {', '.join(params['languages'])}",
        f"- **Objective:** {OBJECTIVE_TEXT[params['objective']]}"
        + "".join(
            f", {key} {value}" for key, value in loss_settings(params).items() if value is not None
        ),
        f"- **Steps:** {result['steps']} of {result['rows_per_step']} sentence ids "
        f"({result['views']} views each), learning rate {hyper['learning_rate']}; "
        f"final loss {result['final_loss']:.4f}",
        *([f"- **Stopped:** {stop_text(result['stopped'])}"] if "stopped" in result else []),
        f"- **Scores:** written after evaluation: this card with the headline scores in "
        f"`results/report/cards/{job}.md`, every score in `results/eval/{job}/` (mteb result "
        "JSON per task) and the report `results/report/summary.md`",
        "",
        "The full resolved settings and provenance are in `mwalign_run.json`; the loss per "
        "step in `loss_curve.csv`"
        + (
            ", the dev loss and accuracy per evaluation in `dev_curve.csv`."
            if result.get("stopped", {}).get("dev_metric")
            else "."
        ),
        "",
    ]
    return "\n".join(lines)


def append_run_section(folder: Path, record: dict[str, Any]) -> None:
    """Add :func:`run_section` to the card sentence-transformers wrote into ``folder``."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    card.write_text(text.rstrip("\n") + "\n" + run_section(record), encoding="utf-8")
