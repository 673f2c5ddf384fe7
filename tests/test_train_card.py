"""The model card and a failed run's advice name the settings of the run's own objective."""

from __future__ import annotations

import pytest
from mwalign.train.card import run_section
from mwalign.train.losses import LOSS_SETTINGS, build_loss
from mwalign.train.trainer import recovery_advice

TRAIN = {
    "temperature": 0.05,
    "soft_temperature": 0.2,
    "teacher_temperature": 0.3,
    "label_strategy": "priority",
    "tcm": False,
    "tcm_lambda": 0.5,
    "pairs": "all",
    "row_languages": None,
    "denominator": "negatives",
    "learning_rate": 5e-5,
}


def record(objective: str) -> dict:
    params = {
        "job": "run",
        "seed": 1,
        "data": "multiway",
        "objective": objective,
        "languages": ["de"],
        "student": {"model": "owner/student", "max_seq_length": 64, "prefix": ""},
        "train": TRAIN,
    }
    result = {"steps": 3, "rows_per_step": 4, "views": 2, "final_loss": 0.5}
    return {"params": params, "result": result, "provenance": {"inputs": {"dataset": "abc"}}}


def objective_line(objective: str) -> str:
    section = run_section(record(objective))
    return next(line for line in section.splitlines() if line.startswith("- **Objective:**"))


@pytest.mark.parametrize(
    ("objective", "stated", "not_stated"),
    [
        (
            "infonce",
            ["temperature 0.05", "denominator negatives"],
            ["soft_temperature", "teacher_temperature"],
        ),
        (
            "soft",
            ["soft_temperature 0.2", "teacher_temperature 0.3", "label_strategy priority"],
            ["temperature 0.05"],
        ),
        (
            "similarity_mse",
            ["soft_temperature 0.2"],
            ["temperature 0.05", "teacher_temp", "denominator"],
        ),
        ("embedding_mse", [], ["temperature"]),
    ],
)
def test_card_states_the_objectives_own_settings(objective, stated, not_stated):
    line = objective_line(objective)
    assert all(text in line for text in stated), line
    assert not any(text in line for text in not_stated), line


def test_non_finite_loss_advice_names_the_objectives_temperatures():
    assert recovery_advice("infonce") == (
        "Lower train.learning_rate, raise train.temperature or use precision fp32"
    )
    assert "train.soft_temperature or train.teacher_temperature" in recovery_advice("soft")
    assert "train.temperature" not in recovery_advice("similarity_mse")
    assert "raise" not in recovery_advice("embedding_mse")


class _Student:
    def get_embedding_dimension(self) -> int:
        return 8


@pytest.mark.parametrize("objective", sorted(LOSS_SETTINGS))
def test_loss_settings_are_what_build_loss_reads(objective):
    """build_loss needs no train key beyond LOSS_SETTINGS (and pairs), and passes them on."""
    keys = {*LOSS_SETTINGS[objective], "pairs"}
    params = {
        "objective": objective,
        "data": "multiway",
        "train": {key: value for key, value in TRAIN.items() if key in keys},
    }
    loss = build_loss(params, _Student(), teacher_dim=4)
    config = loss.get_config_dict()
    if "temperature" in LOSS_SETTINGS[objective]:
        assert config["temperature"] == TRAIN["temperature"]
    if "soft_temperature" in LOSS_SETTINGS[objective]:
        assert config["temperature"] == TRAIN["soft_temperature"]
    if "teacher_temperature" in LOSS_SETTINGS[objective]:
        assert config["teacher_temperature"] == TRAIN["teacher_temperature"]
