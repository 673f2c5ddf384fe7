"""One definition of a control character for the sample and translate stages."""

from __future__ import annotations

import pytest
from mwalign.text import clean_source, has_control, normalise


@pytest.mark.parametrize(
    "raw",
    ["  God`s\tword\x07 here\u200b  ", "a\u2028b\ufeffc", "नमस्ते\u200dदुनिया", "plain text"],
)
def test_a_normalised_sentence_reaches_the_model_unchanged(raw):
    sentence = normalise(raw)
    assert not has_control(sentence)
    assert clean_source(sentence) == sentence


def test_model_inputs_lose_controls_surrogates_and_unassigned_code_points():
    assert clean_source("a\x07b\ud800c\U000e0fffd\u200be") == "a b c d e"
    assert clean_source("keeps\u200djoiners") == "keeps\u200djoiners"  # Cf other than U+200B
