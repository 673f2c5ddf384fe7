"""The teacher stage: every sentence embedded once, with the teacher's prefix in front."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from mwalign import files, tables
from mwalign.models.load import load_sentence_transformer
from mwalign.paths import MODEL_INFO_FILE
from mwalign.teacher import embed_teacher, read_teacher_table
from test_train_fixtures import make_student, sentence


def test_teacher_prefix_is_put_before_every_sentence(tmp_path):
    model = make_student(tmp_path / "teacher")
    files.write_json({"source": "a tiny model built from a config"}, model / MODEL_INFO_FILE)
    texts = [sentence("en", i) for i in range(5)]
    corpus = tmp_path / "en.parquet"
    table = pa.table({"id": list(range(5)), "text": texts, "source": ["t"] * 5, "ref": ["r"] * 5})
    files.write_table(table, corpus, tables.CORPUS)
    settings = {"model": "tiny", "prefix": "query: ", "languages": ["en"], "batch_size": 2}
    out, info = tmp_path / "teacher.parquet", tmp_path / "teacher.json"
    record = embed_teacher(
        model_path=model, corpus_path=corpus, out_path=out, info_path=info, settings=settings
    )
    assert record["config"]["prefix"] == "query: "
    table = read_teacher_table(out)  # the file the train stage reads, its schema checked
    assert set(table.column("lang").to_pylist()) == {"en"}
    ids = table.column("id").to_numpy()
    embeddings = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    encoder = load_sentence_transformer(model)
    with_prefix = encoder.encode([f"query: {t}" for t in texts], normalize_embeddings=True)
    without = encoder.encode(texts, normalize_embeddings=True)
    assert ids.tolist() == list(range(5))
    assert np.allclose(embeddings, with_prefix, atol=1e-5)
    assert not np.allclose(embeddings, without, atol=1e-3)
