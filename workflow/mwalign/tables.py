"""Explicit pyarrow schemas of every Parquet file passed between stages.

Every stage writes through :func:`mwalign.files.write_table` and reads through
:func:`mwalign.files.read_table`, both of which check the file against one of these
schemas, so a missing column or a wrong type names the file instead of surfacing
three stages later.
"""

from __future__ import annotations

import pyarrow as pa

from mwalign.paths import SOURCE_LANGUAGE

# sample: results/corpus/en.parquet, one row per English sentence.
#   id:     stable row id, 0..N-1 in sampled order
#   text:   normalised English sentence
#   source: where the corpus came from ("bible:4", "file:corpus.txt", "hf:wikitext"); in a
#           corpus.mixture, the source's name first ("opus100:hf:Helsinki-NLP/opus-100")
#   ref:    a locator inside that source ("1:1:1" = book:chapter:verse for the Bible,
#           a line or row number for files); the reference backend looks it up
CORPUS = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("ref", pa.string(), nullable=False),
    ]
)

# Quality flags set by the translate stage on every translated row.
FLAG_COLUMNS = (
    "flag_empty",
    "flag_copy",
    "flag_length_ratio",
    "flag_script",
    "flag_repetition",
)

# translate: results/translations/{lang}/{shard}.parquet, one row per source row
# of the shard, in corpus order.
TRANSLATION = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("source_text", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        *[pa.field(name, pa.bool_(), nullable=False) for name in FLAG_COLUMNS],
    ]
)

# Flag of the optional similarity check (translate.similarity), set by assemble from the
# side files below; not a column of TRANSLATION, so enabling it rewrites no shard.
LOW_SIMILARITY = "flag_low_similarity"

# similarity: results/translations/{lang}/{shard}.similarity.parquet, one row per row of
# the translation shard, in id order.
#   similarity: cosine between source and translation embeddings; NaN where either is empty
SIMILARITY = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("similarity", pa.float32(), nullable=False),
    ]
)


def multiway_schema(languages: list[str]) -> pa.Schema:
    """results/dataset/multiway.parquet: one row per English sentence, a column per language."""
    fields = [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field(SOURCE_LANGUAGE, pa.string(), nullable=False),
    ]
    fields += [pa.field(lang, pa.string(), nullable=False) for lang in languages]
    return pa.schema(fields)


# assemble: results/dataset/enx.parquet: each English row with ONE target language.
ENX = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field(SOURCE_LANGUAGE, pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)


def teacher_schema(dim: int) -> pa.Schema:
    """results/teacher/{teacher}.parquet: one embedding per (id, lang), L2-normalised."""
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("lang", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def frozen_schema(dim: int) -> pa.Schema:
    """results/frozen/{student}/{dataset}.parquet: the pretrained student's embedding of every
    (id, lang) of the dataset's train split, L2-normalised, fp32 (mwalign.frozen)."""
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("lang", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


# report: results/report/scores.parquet: one row per (model, task, split, language, metric).
#   evaluation: True on the task's evaluation split (mwalign.evaluate.mteb_tasks.evaluation_split),
#               the only rows aggregates and tests use
SCORES = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("run", pa.string(), nullable=False),
        pa.field("student", pa.string(), nullable=False),
        pa.field("data", pa.string(), nullable=False),
        pa.field("objective", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("task_type", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("evaluation", pa.bool_(), nullable=False),
        pa.field("subset", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("seen", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
    ]
)

# evaluate: results/eval/{model}/{task}.items.parquet, what every evaluation item got
# (mwalign.evaluate.items). One row per (split, subset, experiment, item).
#   group, item: the unit of evaluation; rows with the same (group, item) are the same
#                sentence (a parallel bitext task: every language pair and direction)
#   experiment:  classification experiment (mteb refits its classifier n times); else 0
#   gold, predicted: gold and predicted label (classification) or candidate index
#                (bitext mining: the matching sentence and the nearest neighbour)
#   gold_score, predicted_score: STS gold similarity (normalised) and the model's
ITEMS = pa.schema(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("subset", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        pa.field("item", pa.int64(), nullable=False),
        pa.field("experiment", pa.int32(), nullable=False),
        pa.field("gold", pa.int64()),
        pa.field("predicted", pa.int64()),
        pa.field("gold_score", pa.float64()),
        pa.field("predicted_score", pa.float64()),
    ]
)
