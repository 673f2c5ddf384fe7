"""Stage `assemble`: join translation shards into the multi-way and En-X datasets.

- multiway.parquet: one row per English sentence, one column per target language. A
  row is kept only when every language has a usable translation; every drop is
  counted by language and reason.
- enx.parquet: the English-centric baseline over the SAME English rows and split: each
  row paired with ONE target language drawn uniformly (seeded) from the pool.
- card.json: counts, flags per language, languages, sources, seed and content hashes,
  and how often each language and pair occurs in k-language rows (train.row_languages).

The train/dev split of a sentence depends only on the seed and its id, so adding a
language or changing a filter never moves a sentence between splits.

The rule's params: :func:`assemble_settings` (``config.dataset``, and the similarity
check's encoder and threshold when it is on), the languages, the shard files and the
seed (workflow/rules/assemble.smk).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mwalign import files, tables
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.provenance import derive_seed, provenance
from mwalign.translate.params import similarity_params

log = logging.getLogger(__name__)


def assemble_similarity(config: dict[str, Any]) -> dict[str, Any] | None:
    """The similarity entry of the assemble settings (encoder and threshold); None when off."""
    params = similarity_params(config)
    if params is None:
        return None
    threshold = config["translate"]["similarity"]["threshold"]
    return {"model": params["model"], "prefix": params["prefix"], "threshold": threshold}


def assemble_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The assemble rule's settings: ``config.dataset``, plus ``similarity``
    (:func:`assemble_similarity`) when the similarity check is on."""
    settings = dict(config["dataset"])
    similarity = assemble_similarity(config)
    if similarity is not None:
        settings["similarity"] = similarity
    return settings


def read_language(lang: str, shard_paths: list[Path], corpus_ids: np.ndarray) -> pd.DataFrame:
    """All shards of ``lang`` as one frame indexed by id; every corpus id exactly once."""
    frames = []
    for path in shard_paths:
        table = files.read_table(path, tables.TRANSLATION)
        frame = table.to_pandas()
        wrong = sorted(set(frame["lang"]) - {lang})
        if wrong:
            raise files.StageInputError(f"{path}: holds languages {wrong}, expected only {lang!r}")
        frames.append(frame)
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id"])
    duplicated = merged["id"][merged["id"].duplicated()]
    if len(duplicated):
        raise files.StageInputError(
            f"{lang}: ids {duplicated.head(5).tolist()} appear in two shards"
        )
    missing = np.setdiff1d(corpus_ids, merged["id"].to_numpy())
    extra = np.setdiff1d(merged["id"].to_numpy(), corpus_ids)
    if len(missing) or len(extra):
        raise files.StageInputError(
            f"{lang}: shards {[str(p) for p in shard_paths]} do not match the corpus: "
            f"{len(missing)} corpus ids missing (e.g. {missing[:5].tolist()}), "
            f"{len(extra)} unknown ids (e.g. {extra[:5].tolist()}); rerun translate for {lang}"
        )
    return merged.set_index("id").sort_index()


def flag_names(frame: pd.DataFrame) -> list[str]:
    """The flag columns of a language's frame: the shards' own, plus low similarity if checked."""
    extra = [tables.LOW_SIMILARITY] if tables.LOW_SIMILARITY in frame else []
    return [*tables.FLAG_COLUMNS, *extra]


def add_similarity_flag(
    frame: pd.DataFrame, lang: str, paths: list[Path], threshold: float
) -> pd.DataFrame:
    """``frame`` with the shards' cosines and ``flag_low_similarity`` (cosine < threshold).

    Rows without a cosine (NaN: blank source or translation) are never flagged.
    """
    shards = [files.read_table(path, tables.SIMILARITY).to_pandas() for path in paths]
    scores = pd.concat(shards, ignore_index=True).set_index("id")["similarity"].sort_index()
    if not scores.index.equals(frame.index):
        raise files.StageInputError(
            f"{lang}: similarity files {[str(p) for p in paths]} do not cover the same ids as "
            f"its translation shards; rerun the similarity rule for {lang}"
        )
    frame = frame.copy()
    frame["similarity"] = scores.to_numpy()
    frame[tables.LOW_SIMILARITY] = (frame["similarity"] < threshold).fillna(False)
    return frame


def usable_mask(frame: pd.DataFrame, drop_flagged: bool) -> pd.Series:
    """Rows whose translation is kept: never empty; unflagged when ``drop_flagged``."""
    if drop_flagged:
        return ~frame[flag_names(frame)].any(axis=1)
    return ~frame["flag_empty"] & (frame["text"].str.strip().str.len() > 0)


def assign_splits(ids: np.ndarray, dev_fraction: float, seed: int) -> np.ndarray:
    """'dev' for a seeded ``dev_fraction`` of ids, 'train' otherwise; stable per id."""
    draws = np.array([derive_seed(seed, "split", int(i)) / 0x7FFFFFFF for i in ids])
    return np.where(draws < dev_fraction, "dev", "train")


def draw_enx_languages(ids: np.ndarray, languages: list[str], seed: int) -> np.ndarray:
    """One target language per id, uniform over the pool, stable per id."""
    return np.array([languages[derive_seed(seed, "enx", int(i)) % len(languages)] for i in ids])


def language_order(ids: np.ndarray, n_languages: int, seed: int) -> np.ndarray:
    """Per id, the language indices 0..n_languages-1 (0: English) in a seeded order:
    (N, n_languages), stable per id, ranked by ``derive_seed(seed, id, index)``."""
    keys = np.array(
        [[derive_seed(seed, int(i), lang) for lang in range(n_languages)] for i in ids],
        dtype=np.int64,
    ).reshape(len(ids), n_languages)
    return np.argsort(keys, axis=1, kind="stable")


def choose_row_languages(order: np.ndarray, k: int, english: str) -> np.ndarray:
    """The k languages of each row from its order (:func:`language_order`): (N, k), sorted.

    ``english``: ``always`` (English, index 0, plus the first k - 1 targets of the order)
    or ``any`` (the first k of all languages).
    """
    n_rows, n_languages = order.shape
    if english not in ("always", "any"):
        raise ValueError(f"unknown row_english {english!r}; allowed: ['always', 'any']")
    if not 2 <= k <= n_languages:
        raise ValueError(f"row_languages = {k}; allowed: 2 to {n_languages} (the languages)")
    if english == "any":
        chosen = order[:, :k]
    else:
        targets = order[order != 0].reshape(n_rows, n_languages - 1)
        english_column = np.zeros((n_rows, 1), dtype=order.dtype)
        chosen = np.concatenate([english_column, targets[:, : k - 1]], axis=1)
    return np.sort(chosen, axis=1)


def draw_row_languages(
    ids: np.ndarray, n_languages: int, k: int, english: str, seed: int
) -> np.ndarray:
    """The k languages of each k-language row: (N, k) indices into [en, *languages], sorted.

    ``english``: ``always`` (English plus k - 1 targets) or ``any`` (k of all
    ``n_languages``), uniform per row. Each row's draw depends on the seed and its id
    only, so every run and seed draws the same rows, and a row's languages for k are a
    subset of those for k + 1.
    """
    return choose_row_languages(language_order(ids, n_languages, seed), k, english)


def row_language_counts(rows: np.ndarray, names: list[str]) -> dict[str, dict[str, int]]:
    """How often each language and each (unordered, alphabetical) pair occurs in ``rows``
    ((N, k) language indices into ``names``)."""
    onehot = np.zeros((len(rows), len(names)), dtype=np.int64)
    np.put_along_axis(onehot, rows, 1, axis=1)
    together = onehot.T @ onehot  # (n, n): rows holding both languages
    pairs = {}
    for a, b in itertools.combinations(range(len(names)), 2):
        key = "-".join(sorted((names[a], names[b])))
        pairs[key] = int(together[a, b])
    languages = {name: int(together[i, i]) for i, name in enumerate(names)}
    return {"languages": languages, "language_pairs": dict(sorted(pairs.items()))}


def row_language_card(ids: np.ndarray, languages: list[str], seed: int) -> dict[str, Any]:
    """For every design of k-language rows (``row_english`` always / any, k from 2 to L),
    how often each language and pair occurs in the rows ``ids`` (the train split) under
    the draw every run takes (:func:`draw_row_languages` with the experiment seed)."""
    names = [SOURCE_LANGUAGE, *languages]
    order = language_order(ids, len(names), derive_seed(seed, "row_languages"))
    card: dict[str, Any] = {"rows": int(len(ids))}
    for english in ("always", "any"):
        card[english] = {
            str(k): row_language_counts(choose_row_languages(order, k, english), names)
            for k in range(2, len(names))
        }
    return card


def flag_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {name: int(frame[name].sum()) for name in flag_names(frame)}


def assemble(
    *,
    corpus_path: Path,
    shards: dict[str, list[Path]],
    shard_stats: dict[str, list[Path]],
    settings: dict,
    seed: int,
    multiway_path: Path,
    enx_path: Path,
    card_path: Path,
    similarity: dict[str, list[Path]] | None = None,
) -> dict:
    """Run the stage; ``shards`` maps each target language to its shard files in order.

    With the similarity check on, ``settings['similarity']`` holds its encoder and
    threshold and ``similarity`` maps each language to the shards' cosine files.

    Every input (corpus, shards, shard stats) is read and checked before any output is
    written, so a bad input raises :class:`files.StageInputError` naming the file and leaves
    earlier outputs as they were.
    """
    languages = list(shards)
    sources = _sources(shard_stats)
    corpus = files.read_table(corpus_path, tables.CORPUS).to_pandas().set_index("id").sort_index()
    ids = corpus.index.to_numpy()
    keep = pd.Series(True, index=corpus.index)
    per_language, texts = {}, {}
    for lang in languages:
        frame = read_language(lang, [Path(p) for p in shards[lang]], ids)
        if "similarity" in settings:
            paths = [Path(p) for p in similarity[lang]]
            frame = add_similarity_flag(frame, lang, paths, settings["similarity"]["threshold"])
        usable = usable_mask(frame, settings["drop_flagged"])
        per_language[lang] = {
            "translated": int(len(frame)),
            "flags": flag_counts(frame),
            "unusable": int((~usable).sum()),
        }
        if "similarity" in frame:
            per_language[lang]["similarity_mean"] = round(float(frame["similarity"].mean()), 4)
        keep &= usable
        texts[lang] = frame["text"]
    kept_ids = corpus.index[keep].to_numpy()
    splits = assign_splits(kept_ids, settings["dev_fraction"], seed)
    multiway = pd.DataFrame(
        {"id": kept_ids, "split": splits, SOURCE_LANGUAGE: corpus.loc[kept_ids, "text"].to_numpy()}
    )
    for lang in languages:
        multiway[lang] = texts[lang].loc[kept_ids].to_numpy()
    enx_langs = draw_enx_languages(kept_ids, languages, seed)
    enx = pd.DataFrame(
        {
            "id": kept_ids,
            "split": splits,
            SOURCE_LANGUAGE: multiway[SOURCE_LANGUAGE].to_numpy(),
            "lang": enx_langs,
            "text": [texts[lang].at[i] for i, lang in zip(kept_ids, enx_langs, strict=True)],
        }
    )
    files.write_table(
        pa.Table.from_pandas(multiway, preserve_index=False),
        multiway_path,
        tables.multiway_schema(languages),
    )
    files.write_table(pa.Table.from_pandas(enx, preserve_index=False), enx_path, tables.ENX)
    card = dataset_card(
        corpus,
        per_language,
        multiway,
        enx,
        sources,
        settings,
        seed,
        {"corpus": corpus_path, "multiway": multiway_path, "enx": enx_path},
    )
    files.write_json(card, card_path)
    log.info("multi-way rows: %d of %d (%s)", len(multiway), len(corpus), card["splits"])
    return card


def _sources(shard_stats: dict[str, list[Path]]) -> dict[str, list[str]]:
    """The translation backends and models of each language, from its shards' stats."""
    sources = {}
    for lang, paths in shard_stats.items():
        seen = set()
        for path in paths:
            stats = files.read_json(path)
            if not isinstance(stats, dict):
                raise files.StageInputError(f"{path}: expected a JSON object of shard stats")
            seen.add(f"{stats.get('backend', '?')}:{stats.get('model') or '-'}")
        sources[lang] = sorted(seen)
    return sources


def dataset_card(corpus, per_language, multiway, enx, sources, settings, seed, paths) -> dict:
    return {
        "languages": [SOURCE_LANGUAGE, *per_language],
        "corpus": {"rows": int(len(corpus)), "sources": sorted(set(corpus["source"]))},
        "translations": per_language,
        "translation_sources": sources,
        "multiway": {"rows": int(len(multiway)), "dropped": int(len(corpus) - len(multiway))},
        "splits": multiway["split"].value_counts().sort_index().to_dict(),
        "enx": {
            "rows": int(len(enx)),
            "per_language": enx["lang"].value_counts().sort_index().to_dict(),
        },
        # k-language rows (train.row_languages) of the train split, per row_english and k
        "row_languages": row_language_card(
            multiway.loc[multiway["split"] == "train", "id"].to_numpy(), list(per_language), seed
        ),
        "sha256": {name: files.file_sha256(path) for name, path in paths.items()},
        "provenance": provenance("assemble", settings, seed),
    }
