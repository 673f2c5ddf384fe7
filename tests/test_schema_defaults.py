"""The schema files are the only home of config defaults: no Python module repeats one.

The check walks every schema file for (key, default) pairs and scans the source of every
module of the package for the ways a default gets copied into code: a ``*DEFAULTS``
constant, ``.get(key, default)`` / ``.setdefault`` / ``.pop`` with that key's schema
default, a dict literal that pairs schema keys with their defaults, and a parameter
named like a key whose default is the schema's.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
from mwalign.config import SCHEMA_DIR, load_schema

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "mwalign"
SCRIPTS = PACKAGE.parent / "scripts"
# The loss modules are standalone nn.Modules in the sentence-transformers style: their
# constructor defaults are the method's reference values, and build_loss passes every one
# of them from the run's settings explicitly.
STANDALONE = ("mwalign/train/losses/",)
# Values too common to mean anything on their own (a `.get(k, None)` is a lookup, not a default).
TRIVIAL = (None, "", {}, [], 0, 1, True, False)


def schema_defaults() -> dict[str, list[object]]:
    """Every key of every schema file -> the defaults the schema gives it."""
    found: dict[str, list[object]] = defaultdict(list)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, child in node.get("properties", {}).items():
                if isinstance(child, dict) and "default" in child:
                    found[key].append(child["default"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in sorted(SCHEMA_DIR.glob("*.yaml")):
        walk(load_schema(path.name))
    return dict(found)


def _literal(node: ast.AST) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _repeats(defaults: dict[str, list[object]], key: object, value: ast.AST) -> bool:
    ok, literal = _literal(value)
    return (
        ok
        and isinstance(key, str)
        and key in defaults
        and any(literal == d and type(literal) is type(d) for d in defaults[key])
    )


def copied_defaults(source: str, defaults: dict[str, list[object]]) -> list[str]:
    """Places in ``source`` that write a schema default again, as 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id.upper().endswith("DEFAULTS"):
                    found.append(f"{node.lineno}: constant {target.id}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
        ):
            key, value = node.args[0].value, node.args[1]
            ok, literal = _literal(value)
            if _repeats(defaults, key, value) and not (ok and literal is None):
                found.append(f"{node.lineno}: .{node.func.attr}({key!r}, {ast.unparse(value)})")
        if isinstance(node, ast.Dict):
            pairs = [
                k.value
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
                and _repeats(defaults, k.value, v)
                and _literal(v)[1] not in TRIVIAL  # fmt: skip
            ]
            if len(pairs) >= 2:
                found.append(f"{node.lineno}: dict literal with schema defaults of {pairs}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = [*node.args.posonlyargs, *node.args.args]
            positional = list(
                zip(args[len(args) - len(node.args.defaults) :], node.args.defaults, strict=True)
            )
            keyword = [
                (a, d)
                for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                if d
            ]
            for arg, default in positional + keyword:
                if _repeats(defaults, arg.arg, default) and _literal(default)[1] not in TRIVIAL:
                    found.append(f"{node.lineno}: parameter {arg.arg}={ast.unparse(default)}")
    return found


def test_the_schema_has_defaults_to_protect():
    defaults = schema_defaults()
    assert defaults["steps"] == [30] and defaults["seeds"] == [[0]]
    assert set(defaults["max_batch_size"]) == {64} and defaults["english_edition"] == ["2"]


@pytest.mark.parametrize(
    "snippet",
    [
        'TRAIN_DEFAULTS = {"steps": 30}',
        'seeds = run.get("seeds", [0])',
        'size = cfg.setdefault("shard_size", 1000)',
        'settings = {"token_budget": 8192, "max_batch_size": 64, "model": m}',
        "def encode(texts, *, max_seq_length=128): ...",
        'def translate(texts, too_long="truncate"): ...',
    ],
)
def test_the_check_catches_a_copied_default(snippet):
    assert copied_defaults(snippet, schema_defaults())


def test_no_module_repeats_a_schema_default():
    defaults = schema_defaults()
    offenders = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *SCRIPTS.glob("*.py")]):
        name = str(path.relative_to(PACKAGE.parent))
        hits = copied_defaults(path.read_text(), defaults)
        if name.startswith(STANDALONE):
            hits = [hit for hit in hits if ": parameter " not in hit]
        if hits:
            offenders[name] = hits
    assert offenders == {}, f"schema defaults written again in Python: {offenders}"
