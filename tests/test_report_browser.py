"""The report's HTML page renders in headless Chromium without errors, every figure and table in it.

Skipped where Debian's ``chromium`` is not installed (CI installs it). The screenshot
(1400 px wide) is written under the test's tmp dir, named in the test's output.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from test_report import experiment, report_of  # noqa: F401  (experiment: a fixture)
from workflow_helpers import ROOT

spec = importlib.util.spec_from_file_location("report_browser", ROOT / "bench/report_browser.py")
browser = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser)

pytestmark = pytest.mark.skipif(browser.chromium() is None, reason="chromium is not installed")


def test_page_renders_every_figure_and_table(experiment, capsys):  # noqa: F811
    root, paths, meta, _ = experiment
    figures = report_of(paths, meta, root / "r", figures=True)
    summary = (root / "r/summary.md").read_text()
    screenshot = root / "screenshot-1400.png"
    dom, errors = browser.render(root / "r/summary.html", screenshot, height=6000)
    assert errors == []
    assert dom.count("<table") == summary.count("\n|---") > 5
    images = re.findall(r'<img[^>]*alt="([^"]*)"', dom)
    assert sorted(images) == sorted(p.stem for p in figures)
    assert screenshot.stat().st_size > 50_000
    with capsys.disabled():
        print(f"\nscreenshot: {screenshot}")
