"""Inputs the workflow must never trust, checked in its own source.

Config values, model repositories and checkpoint files come from outside the project:
no pickle-capable load without ``weights_only=True``, no model code run unless the
config lists the model (never a hard-coded True), no shell built from strings.
Each scan is also run on a snippet that breaks its rule, so none passes vacuously.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_SOURCES = sorted((ROOT / "workflow").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
REMOTE_CODE_MODULE = ROOT / "workflow" / "mwalign" / "models.py"
CODE_RUNNING_CALLS = {
    r"(^|\.)pickle\.loads?$": "pickle runs code from the file",
    r"^(builtins\.)?(eval|exec)$": "runs text as code",
    r"(^|\.)os\.(system|popen)$": "runs a shell",
    r"(^|\.)yaml\.(load|unsafe_load|full_load)$": "builds arbitrary objects; use safe_load",
}


def calls(path: Path) -> Iterator[tuple[str, ast.Call]]:
    """(dotted name of the callee, call node) of every call in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def torch_loads_without_weights_only(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{call.lineno}"
        for path in paths
        for name, call in calls(path)
        if name.endswith("torch.load") and not is_constant(keyword(call, "weights_only"), True)
    ]


def code_running_calls(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{call.lineno} {name} ({why})"
        for path in paths
        for name, call in calls(path)
        for pattern, why in CODE_RUNNING_CALLS.items()
        if re.search(pattern, name)
    ]


def shell_subprocesses(paths: list[Path]) -> list[str]:
    """subprocess calls with shell=True or a command string instead of an argument list."""
    found = []
    for path in paths:
        for name, call in calls(path):
            if not re.search(r"(^|\.)subprocess\.", name):
                continue
            command = call.args[0] if call.args else keyword(call, "args")
            shell = keyword(call, "shell")
            as_string = isinstance(command, (ast.JoinedStr, ast.BinOp, ast.Constant))
            if as_string or not (shell is None or is_constant(shell, False)):
                found.append(f"{path.name}:{call.lineno}")
    return found


def pickling_numpy_loads(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for name, call in calls(path):
            allow = keyword(call, "allow_pickle")
            if name.endswith("np.load") and not (allow is None or is_constant(allow, False)):
                found.append(f"{path.name}:{call.lineno}")
    return found


def remote_code_always_on(paths: list[Path]) -> list[str]:
    """trust_remote_code passed (keyword or dict key) as the constant True.

    Every model's trust must come from ``mwalign.config.remote_code_allowed`` (the
    config's allow-list), carried to the loader as a value.
    """
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            values = []
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code":
                values = [node.value]
            elif isinstance(node, ast.Dict):
                values = [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "trust_remote_code"
                ]
            found += [f"{path.name}:{v.lineno}" for v in values if is_constant(v, True)]
    return found


def shell_rule_blocks(paths: list[Path]) -> list[str]:
    """`shell:` or `run:` blocks, which could format config values into a command line."""
    return [
        f"{path.name}:{number}"
        for path in paths
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.match(r"\s+(shell|run):", line)
    ]


SCANS: dict[str, tuple[Callable[[list[Path]], list[str]], list[Path], str]] = {
    "torch.load without weights_only=True": (
        torch_loads_without_weights_only,
        PYTHON_SOURCES,
        "import torch\nstate = torch.load('x.pt')\n",
    ),
    "code-running loaders": (
        code_running_calls,
        PYTHON_SOURCES,
        "import yaml\nyaml.load(open('c.yaml'))\n",
    ),
    "subprocess through a shell": (
        shell_subprocesses,
        PYTHON_SOURCES,
        "import subprocess\nsubprocess.run(f'hf download {model}', shell=True)\n",
    ),
    "np.load with pickles": (
        pickling_numpy_loads,
        PYTHON_SOURCES,
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)\n",
    ),
    "trust_remote_code=True": (
        remote_code_always_on,
        PYTHON_SOURCES,
        "AutoModel.from_pretrained(name, trust_remote_code=True)\n",
    ),
    "shell blocks in rules": (
        shell_rule_blocks,
        RULE_FILES,
        "rule x:\n    output: 'a'\n    shell: 'echo {config[model]} > {output}'\n",
    ),
}


def test_sources_are_found():
    assert REMOTE_CODE_MODULE in PYTHON_SOURCES and len(PYTHON_SOURCES) > 20
    assert len(RULE_FILES) > 5


@pytest.mark.parametrize("scan", list(SCANS))
def test_project_source_is_clean(scan):
    check, paths, _ = SCANS[scan]
    assert check(paths) == [], f"{scan}: {check(paths)}"


@pytest.mark.parametrize("scan", list(SCANS))
def test_scan_finds_a_violation(tmp_path, scan):
    check, _, bad_snippet = SCANS[scan]
    path = tmp_path / "bad.py"
    path.write_text(bad_snippet)
    found = check([path])
    assert len(found) == 1 and found[0].startswith("bad.py:")
