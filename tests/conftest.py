"""Fixtures shared by the train tests: a tiny student and tiny multi-way/En-X datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_fixtures import make_datasets, make_student


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return make_student(tmp_path_factory.mktemp("student") / "tiny")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    return make_datasets(tmp_path_factory.mktemp("data"))
