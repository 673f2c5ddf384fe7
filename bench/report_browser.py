"""Open the report's HTML page in headless Chromium: screenshot, rendered DOM, console errors.

Example (after the default experiment):

    python bench/report_browser.py results/report/summary.html --out bench/output/report.png

Chromium is Debian's ``chromium`` package (``apt-get install -y chromium``); the page is
opened from a file in a fresh profile, without network, sync or component updates.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

WIDTH = 1400
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE_ERROR = re.compile(r"CONSOLE.*(Uncaught|Error)|Uncaught ", re.IGNORECASE)
log = logging.getLogger("bench.report_browser")


def chromium() -> str | None:
    """Path of the chromium binary, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def render(page: Path, screenshot: Path, height: int = 9000) -> tuple[str, list[str]]:
    """Screenshot of ``page`` at WIDTH px; returns the rendered DOM and console errors."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shot = _run(page, f"--window-size={WIDTH},{height}", f"--screenshot={screenshot.resolve()}")
    dom = _run(page, f"--window-size={WIDTH},{height}", "--virtual-time-budget=5000", "--dump-dom")
    errors = [
        line for line in (shot.stderr + dom.stderr).splitlines() if CONSOLE_ERROR.search(line)
    ]
    if shot.returncode != 0 or not screenshot.exists():
        errors.append(f"chromium exited {shot.returncode}: {shot.stderr[-500:]}")
    return dom.stdout, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/output/report.png"))
    parser.add_argument("--height", type=int, default=9000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if chromium() is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    dom, errors = render(args.page, args.out, args.height)
    log.info(
        "screenshot %s (%d px wide); %d tables, %d figures; console errors: %s",
        args.out,
        WIDTH,
        dom.count("<table"),
        dom.count("<img"),
        errors or "none",
    )


if __name__ == "__main__":
    main()
