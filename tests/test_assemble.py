"""The assemble stage on hand-made shards: joins, drops counted, En-X draw, schema errors."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mwalign import tables
from mwalign.assemble import assemble
from mwalign.files import StageInputError, read_json, read_table, write_json, write_table

N = 12


def write_corpus(path):
    frame = pd.DataFrame(
        {
            "id": range(N),
            "text": [f"English sentence {i}." for i in range(N)],
            "source": "file:x",
            "ref": [str(i) for i in range(N)],
        }
    )
    write_table(pa.Table.from_pandas(frame), path, tables.CORPUS)


def write_shards(folder, lang, empty_ids=(), shard_size=5):
    paths, stats = [], []
    for shard, start in enumerate(range(0, N, shard_size)):
        ids = list(range(start, min(start + shard_size, N)))
        frame = pd.DataFrame(
            {
                "id": ids,
                "lang": lang,
                "source_text": [f"English sentence {i}." for i in ids],
                "text": ["" if i in empty_ids else f"{lang} sentence {i}." for i in ids],
            }
        )
        for flag in tables.FLAG_COLUMNS:
            frame[flag] = frame["text"].eq("") if flag == "flag_empty" else False
        path = folder / f"{lang}-{shard}.parquet"
        write_table(pa.Table.from_pandas(frame), path, tables.TRANSLATION)
        write_json({"backend": "reference", "model": None}, folder / f"{lang}-{shard}.json")
        paths.append(path)
        stats.append(folder / f"{lang}-{shard}.json")
    return paths, stats


def run(tmp_path, shards, stats, dev_fraction=0.25):
    settings = {"dev_fraction": dev_fraction, "drop_flagged": True}
    out = tmp_path / "out"
    card = assemble(
        corpus_path=tmp_path / "en.parquet",
        shards=shards,
        shard_stats=stats,
        settings=settings,
        seed=5,
        multiway_path=out / "multiway.parquet",
        enx_path=out / "enx.parquet",
        card_path=out / "card.json",
    )
    return card, out


def test_multiway_and_enx(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de", empty_ids={3})
    zh, zh_stats = write_shards(tmp_path, "zh", empty_ids={3, 7})
    card, out = run(tmp_path, {"de": de, "zh": zh}, {"de": de_stats, "zh": zh_stats})
    multiway = read_table(
        out / "multiway.parquet", tables.multiway_schema(["de", "zh"])
    ).to_pandas()
    enx = read_table(out / "enx.parquet", tables.ENX).to_pandas()
    assert sorted(multiway["id"]) == [i for i in range(N) if i not in (3, 7)]
    assert card["multiway"] == {"rows": N - 2, "dropped": 2}
    assert card["translations"]["zh"]["flags"]["flag_empty"] == 2
    row = multiway.set_index("id").loc[5]
    assert (row["en"], row["de"], row["zh"]) == (
        "English sentence 5.",
        "de sentence 5.",
        "zh sentence 5.",
    )
    # En-X: the same rows and split, one target per row, taken from the multi-way row.
    assert enx["id"].tolist() == multiway["id"].tolist()
    assert enx["split"].tolist() == multiway["split"].tolist()
    assert set(enx["lang"]) <= {"de", "zh"}
    assert all(
        text == f"{lang} sentence {i}."
        for i, lang, text in zip(enx["id"], enx["lang"], enx["text"], strict=True)
    )
    assert set(multiway["split"]) <= {"train", "dev"}
    assert read_json(out / "card.json")["sha256"]["multiway"]
    # k-language rows: the card counts the train split's rows under the draw training takes
    from mwalign.assemble import draw_row_languages, row_language_counts
    from mwalign.provenance import derive_seed

    train_ids = multiway.loc[multiway["split"] == "train", "id"].to_numpy()
    rows = read_json(out / "card.json")["row_languages"]
    assert rows["rows"] == len(train_ids) and sorted(rows) == ["always", "any", "rows"]
    drawn = draw_row_languages(train_ids, 3, 2, "any", derive_seed(5, "row_languages"))
    assert rows["any"]["2"] == row_language_counts(drawn, ["en", "de", "zh"])
    assert rows["always"]["2"]["languages"]["en"] == len(train_ids)


def test_split_of_an_id_does_not_move_when_a_language_is_added(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    zh, zh_stats = write_shards(tmp_path, "zh")
    _, out = run(tmp_path, {"de": de}, {"de": de_stats}, dev_fraction=0.5)
    one = read_table(out / "multiway.parquet").to_pandas().set_index("id")["split"]
    _, out = run(tmp_path, {"de": de, "zh": zh}, {"de": de_stats, "zh": zh_stats}, dev_fraction=0.5)
    two = read_table(out / "multiway.parquet").to_pandas().set_index("id")["split"]
    assert one.equals(two)
    assert set(one) == {"train", "dev"}


def test_missing_shard_names_the_file(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    de[1].unlink()
    with pytest.raises(StageInputError, match=r"de-1.parquet: file is missing"):
        run(tmp_path, {"de": de}, {"de": de_stats})
    assert not (tmp_path / "out" / "multiway.parquet").exists()


def test_truncated_shard_names_the_file(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    de[0].write_bytes(de[0].read_bytes()[:100])
    with pytest.raises(StageInputError, match=r"de-0.parquet: not a readable Parquet file"):
        run(tmp_path, {"de": de}, {"de": de_stats})


def test_wrong_schema_and_short_shard_are_errors(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    table = read_table(de[0]).drop_columns(["flag_copy"])
    pq.write_table(table, de[0])
    with pytest.raises(
        StageInputError, match=r"de-0.parquet: wrong schema: missing columns \['flag_copy'\]"
    ):
        run(tmp_path, {"de": de}, {"de": de_stats})
    de, de_stats = write_shards(tmp_path, "de")
    write_table(read_table(de[2]).slice(0, 1), de[2], tables.TRANSLATION)
    with pytest.raises(StageInputError, match=r"1 corpus ids missing"):
        run(tmp_path, {"de": de}, {"de": de_stats})


def test_shard_of_another_language_or_with_repeated_ids_is_an_error(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    zh, _ = write_shards(tmp_path, "zh")
    with pytest.raises(StageInputError, match=r"zh-1.parquet: holds languages \['zh'\], expected"):
        run(tmp_path, {"de": [de[0], zh[1], de[2]]}, {"de": de_stats})
    with pytest.raises(StageInputError, match=r"de: ids \[0, 1, 2, 3, 4\] appear in two shards"):
        run(tmp_path, {"de": [de[0], de[0], de[1], de[2]]}, {"de": de_stats})


def test_wrong_column_type_names_file_column_and_types(tmp_path):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    table = read_table(de[1])
    table = table.set_column(0, "id", table.column("id").cast(pa.string()))
    pq.write_table(table, de[1])
    with pytest.raises(
        StageInputError, match=r"de-1.parquet: wrong schema: column 'id' is string, expected int64"
    ):
        run(tmp_path, {"de": de}, {"de": de_stats})


def test_missing_corpus_names_the_file(tmp_path):
    de, de_stats = write_shards(tmp_path, "de")
    with pytest.raises(StageInputError, match=r"en.parquet: file is missing"):
        run(tmp_path, {"de": de}, {"de": de_stats})


@pytest.mark.parametrize("bad_stats", ["{not json", "[1, 2]"])
def test_bad_shard_stats_fail_before_any_output_is_replaced(tmp_path, bad_stats):
    write_corpus(tmp_path / "en.parquet")
    de, de_stats = write_shards(tmp_path, "de")
    _, out = run(tmp_path, {"de": de}, {"de": de_stats})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    de, de_stats = write_shards(tmp_path, "de", empty_ids={0})  # new translations ...
    de_stats[1].write_text(bad_stats)
    with pytest.raises(
        StageInputError, match=r"de-1.json: (not valid JSON|expected a JSON object)"
    ):
        run(tmp_path, {"de": de}, {"de": de_stats})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
