"""The package has no import cycles, counting imports inside functions too; no stage imports
another stage's private names; parsing a config imports no model stack."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workflow" / "mwalign"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (the module itself, not its package)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    root = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*root, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                if target in paths and target != name:
                    graph[name].add(target)
                    break
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                found.append([*stack[stack.index(child) :], child])
            elif child not in state:
                visit(child, [*stack, child])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


# Packages and modules of the workflow's stages (one rule file each); the other modules of
# mwalign are shared by several stages.
STAGES = ("models", "sample", "translate", "assemble", "teacher", "train", "evaluate", "report")


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def private_imports(paths: dict[str, Path]) -> list[str]:
    """``module: name from other`` for every underscore name a module imports from a stage
    other than its own (counting imports inside functions)."""
    found = []
    for name, path in sorted(paths.items()):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            other = stage_of(node.module)
            if other is None or other == stage_of(name):
                continue
            found += [
                f"{name}: {alias.name} from {node.module}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
    return found


def test_the_check_sees_a_private_import(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("from mwalign.evaluate.bible_tasks import _pool\n")
    assert private_imports({"mwalign.report.x": path}) == [
        "mwalign.report.x: _pool from mwalign.evaluate.bible_tasks"
    ]
    assert private_imports({"mwalign.evaluate.x": path}) == []  # its own stage


def test_no_stage_imports_another_stages_private_names():
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    assert private_imports(paths) == []


def test_config_validation_imports_no_model_stack(tmp_path):
    """Parsing a config (the Snakefile, `mwalign check`, the vllm virtualenv's tests) needs
    no scipy, torch, transformers, sentence-transformers or mteb: validating it, planning
    its jobs and computing every job's params slice, as the workflow's parse step does."""
    code = (
        "import sys\n"
        "import mwalign.evaluate, mwalign.train, mwalign.translate\n"
        "from mwalign.config import load_config\n"
        "from mwalign.evaluate.params import evaluate_params\n"
        "from mwalign.plan import make_plan\n"
        "from mwalign.train.params import train_params\n"
        "from mwalign.translate.params import translate_job_params\n"
        f"config = load_config({str(ROOT / 'config.yaml')!r})\n"
        "plan = make_plan(config)\n"
        "[train_params(config, job) for job in plan.train_jobs]\n"
        "[evaluate_params(config, m, t) for m in plan.eval_models for t in plan.tasks]\n"
        "[translate_job_params(config, lang) for lang in plan.languages]\n"
        "heavy = ('scipy', 'torch', 'transformers', 'sentence_transformers', 'mteb')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
