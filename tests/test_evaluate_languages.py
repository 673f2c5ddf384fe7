"""Every configured language is found in every mteb task of experiments/paper.yaml that has it.

Reads mteb's real task metadata (shipped inside the installed package; nothing is
downloaded). The codes below are written here, independently of
:mod:`mwalign.evaluate.langcodes`: every ISO 639-3 code and script under which the
paper's tasks name these languages (MASSIVE: Mandarin as ``cmo-Hans``, Korean as
``kor-Kore``; FLORES/SIB-200: Standard Arabic as ``arb-Arab``).
"""

from __future__ import annotations

import pytest
import yaml
from mwalign.evaluate import mteb_tasks
from mwalign.evaluate.langcodes import config_code
from workflow_helpers import ROOT

PAPER = yaml.safe_load((ROOT / "experiments/paper.yaml").read_text())
MTEB_TASKS = [task for task in PAPER["evaluate"]["tasks"] if not task.startswith("Bible")]
# config code -> (ISO 639-3 codes, scripts) a dataset may write it as
KNOWN_AS = {
    "ar": ({"ara", "arb"}, {"Arab"}),
    "de": ({"deu"}, {"Latn"}),
    "es": ({"spa"}, {"Latn"}),
    "hi": ({"hin"}, {"Deva"}),
    "ru": ({"rus"}, {"Cyrl"}),
    "zh": ({"zho", "cmn", "cmo"}, {"Hans"}),
    "ko": ({"kor"}, {"Hang", "Kore"}),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _is(language: str, code: str) -> bool:
    iso3, script = language.split("-")
    codes, scripts = KNOWN_AS[code]
    return iso3 in codes and script in scripts


@pytest.mark.parametrize("task_name", MTEB_TASKS)
def test_every_configured_language_of_a_paper_task_is_evaluated(task_name):
    languages = [*PAPER["languages"], "ko"]
    params = {**{"languages": languages}, "unseen_languages": [], "mteb_languages": "experiment"}
    task = mteb_tasks.mteb_task(task_name, params)
    all_subsets = task.metadata.hf_subsets_to_langscripts
    kept = {subset: all_subsets[subset] for subset in task.hf_subsets}
    for code in languages:
        present = [s for s, langs in all_subsets.items() if any(_is(lang, code) for lang in langs)]
        # subsets pairing this language with English only (or alone): those must be kept
        with_english = [
            s
            for s in present
            if all(_is(lang, code) or lang == "eng-Latn" for lang in all_subsets[s])
        ]
        assert set(with_english) <= set(kept), (task_name, code, set(with_english) - set(kept))
        for subset in with_english:
            assert code in {config_code(lang) for lang in kept[subset]}


def test_massive_keeps_chinese_and_korean():
    task = mteb_tasks.mteb_task(
        "MassiveIntentClassification",
        {"languages": ["zh"], "unseen_languages": ["ko"], "mteb_languages": "experiment"},
    )
    assert sorted(task.hf_subsets) == ["en", "ko", "zh-CN"]
    assert config_code("cmo-Hans") == "zh" and config_code("kor-Kore") == "ko"


@pytest.mark.parametrize(
    ("splits", "expected"),
    [(["test"], "test"), (["validation", "test"], "test"), (["dev", "devtest"], "devtest")],
)
def test_evaluation_split(splits, expected):
    assert mteb_tasks.evaluation_split(splits) == expected
    assert mteb_tasks.mteb_evaluation_split("FloresBitextMining") == "devtest"
    assert mteb_tasks.mteb_evaluation_split("MassiveIntentClassification") == "test"
