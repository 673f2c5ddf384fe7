"""Config loading and validation: the JSON schema (with defaults), then each stage's checks.

The Snakefile calls :func:`validate_config` at parse time, so a bad config stops the
run before any job starts, with a message naming the key, the value and what is
allowed: the schema files under mwalign/schemas/ own every key and default; the checks
here are the ones shared by every stage (languages, names); each stage's own cross-field
checks live beside its code (``mwalign.<stage>.checks.check_config``). Then, once per
run in Snakemake's main process, :func:`check_inputs` checks the config against the
data, models and caches at hand (sizes, lengths, the hub when offline), again through
each stage's checks. Tests call :func:`load_config` on a YAML file without Snakemake.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mwalign.errors import ConfigError, suggestion
from mwalign.hub import hub_offline
from mwalign.languages import language
from mwalign.paths import (
    BASE_PREFIX,
    CHECKS_CACHE_DIR,
    SOURCE_LANGUAGE,
    check_name,
)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE = SCHEMA_DIR / "config.schema.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

__all__ = [
    "ConfigError",
    "check_config_file",
    "check_inputs",
    "load_config",
    "read_config_file",
    "validate_config",
]


def load_schema(name: str) -> dict[str, Any]:
    """One schema file of the package, checked to declare the JSON Schema dialect in use.

    Every file declares ``$schema``. Referenced files are handed to the validator without
    it: jsonschema switches to a fresh validator of the declared dialect at a resource
    that declares one, which would drop the default filling inside that file.
    """
    schema = yaml.safe_load((SCHEMA_DIR / name).read_text())
    if schema.get("$schema") != DIALECT:
        raise ConfigError(f"schema file {name} must declare $schema: {DIALECT!r}")
    return schema


def _registry() -> Registry:
    def retrieve(uri: str) -> Resource:
        contents = load_schema(uri.split("/")[-1])
        del contents["$schema"]
        return DRAFT202012.create_resource(contents)

    return Registry(retrieve=retrieve)


def _with_defaults(validator_class: type, retyped: list | None = None) -> type:
    """jsonschema's default-filling validator (its FAQ): fill each ``default``, then validate.

    A default is filled in as its key's type writes it (a number key's default 0 is 0.0),
    as a value written in a config file is: a key left to its default and the same value
    written out give the same params, so neither reruns a job. A value written as another
    type than its key declares (3.0 for an integer, 1 for a number) is appended to
    ``retyped`` as (mapping, key, value as declared), for :func:`apply_schema` to write
    once the config is valid (messages show it as written).
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    default = copy.deepcopy(subschema["default"])
                    instance[name] = _as_declared(default, _resolved(validator, subschema))
                elif name in instance and retyped is not None:
                    declared = _as_declared(instance[name], _resolved(validator, subschema))
                    if repr(declared) != repr(instance[name]):
                        retyped.append((instance, name, declared))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _resolved(validator: Any, schema: Any) -> dict[str, Any]:
    """``schema`` with a ``$ref`` (followed through jsonschema's resolver) merged in; the
    schema as it is where the reference cannot be followed."""
    for _ in range(5):
        if not isinstance(schema, dict) or "$ref" not in schema:
            break
        try:
            target = validator._resolver.lookup(schema["$ref"]).contents
        except Exception:  # noqa: BLE001 - only the type hint is lost
            break
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _as_declared(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` as its schema's type writes it: 3.0 for an integer key is 3 (and so in a
    list of integers), so that the same value written two ways reruns nothing."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_as_declared(item, schema["items"]) for item in value]
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    number = "number" in types and "integer" not in types
    if number and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, plus the allowed keys or the repeated items where it omits
    them, and the closest allowed key or value of a near miss."""
    if error.validator == "additionalProperties" and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        if allowed:
            extra = [key for key in error.instance if key not in allowed]
            hint = suggestion(extra[0], allowed) if extra else ""
            return f"{error.message}; allowed keys: {allowed}{hint}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        return f"{error.message}{suggestion(error.instance, error.validator_value)}"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        items = error.instance
        repeated = [item for i, item in enumerate(items) if item in items[:i]]
        return f"{items!r} lists {repeated!r} more than once; each item may appear once"
    return error.message


def apply_schema(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into ``config`` (in place) and validate it against the schema."""
    schema = load_schema(SCHEMA_FILE.name)
    schema.setdefault("$id", SCHEMA_FILE.as_uri())
    retyped: list[tuple[dict, str, Any]] = []
    validator_class = _with_defaults(jsonschema.Draft202012Validator, retyped)
    validator = validator_class(schema, registry=_registry())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key {_key_path(err)}: {_message(err)}" for err in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    for mapping, name, value in retyped:
        mapping[name] = value
    return config


def check_languages(config: dict[str, Any]) -> None:
    """Target languages are known, distinct and not English; the teacher's are among them."""
    targets = config["languages"]
    for code in targets:
        try:
            language(code)
        except ValueError as err:
            raise ConfigError(f"config.languages: {err}") from None
    if SOURCE_LANGUAGE in targets:
        raise ConfigError(
            f"config.languages lists '{SOURCE_LANGUAGE}', but English is the source language; "
            "list target languages only"
        )
    duplicates = sorted({code for code in targets if targets.count(code) > 1})
    if duplicates:
        raise ConfigError(f"config.languages lists {duplicates} more than once")
    for code in config["teacher"]["languages"]:
        if code != SOURCE_LANGUAGE and code not in targets:
            raise ConfigError(
                f"config.teacher.languages: {code!r} is not a language of the experiment; "
                f"allowed: {[SOURCE_LANGUAGE, *targets]}"
            )


def canonical_languages(config: dict[str, Any]) -> None:
    """Sort ``languages`` and ``teacher.languages`` (English first) in place: they are sets,
    so their order changes no draw, no file and no job.

    The one exception: a run with ``label_strategy: pair_priority`` ranks languages in the
    order en, then ``languages`` as written; an experiment with such a run keeps that
    order, and there reordering ``languages`` reruns its jobs. The default experiment's
    list is already sorted, so its draws are unchanged.
    """
    from mwalign.train.params import run_settings

    ranked = any(
        run_settings(config, name)["label_strategy"] == "pair_priority" for name in config["runs"]
    )
    if not ranked:
        config["languages"] = sorted(config["languages"])
    teacher = config["teacher"]["languages"]
    config["teacher"]["languages"] = sorted(
        teacher, key=lambda code: (code != SOURCE_LANGUAGE, code)
    )


def check_model_names(config: dict[str, Any]) -> None:
    """Base models (``base-{student}``), runs and seeds' jobs (``{run}-seed{k}``) never share
    a name: each is one result folder."""
    from mwalign.jobs import model_name_sources

    first: dict[str, str] = {}
    for name, source in model_name_sources(config):
        if name in first:
            raise ConfigError(
                f"model name {name!r} is made twice: by {first[name]} and by {source} "
                f"(base models are named {BASE_PREFIX}{{student}}, a run with several seeds "
                "{run}-seed{k}); rename one of them"
            )
        first[name] = source


def check_sweeps(config: dict[str, Any]) -> None:
    """A run's ``sweep`` varies train settings only, and every point of its grid is a valid
    run (checked against the schema as if the run were written with the point's values).

    The grid's values are then stored as their keys' types write them (``steps: [30.0]``
    is 30, ``drift_weight: [0]`` is 0.0), as a value written in the run is, so the same
    grid written two ways names the same jobs (the schema refuses ``[1, 1.0]``: one value
    twice)."""
    from mwalign.jobs import sweep_points

    # every point is chosen on the same metric, and report_to never changes a model
    allowed = sorted(set(config["train"]) - {"report_to", "dev_metric"})
    for name, run in config["runs"].items():
        for key in run.get("sweep") or {}:
            if key not in allowed:
                raise ConfigError(
                    f"config.runs.{name}.sweep.{key}: not a train setting; allowed: {allowed}"
                )
        declared: dict[tuple[str, str], Any] = {}
        for point_name, point in sweep_points(config, name).items():
            single = {k: v for k, v in run.items() if k != "sweep"} | point
            try:
                checked = apply_schema(copy.deepcopy({**config, "runs": {name: single}}))
            except ConfigError as err:
                detail = str(err).removeprefix("invalid config:\n  ").replace("\n  ", "; ")
                raise ConfigError(
                    f"config.runs.{name}.sweep: point {point_name!r} is not a valid run: {detail}"
                ) from None
            for key, value in point.items():
                declared[key, repr(value)] = checked["runs"][name][key]
        for key, values in (run.get("sweep") or {}).items():
            run["sweep"][key] = [declared[key, repr(value)] for value in values]


def _as_config_error(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a stage's check; its ValueError (naming key, value, what is allowed) becomes a
    ConfigError with the same message."""
    try:
        return check(*args, **kwargs)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from None


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Schema (with defaults) + cross-field checks; returns ``config`` filled in place.

    Imports no model stack (torch, transformers, sentence-transformers, mteb, scipy):
    the workflow's parse step and ``mwalign check`` run it.
    """
    from mwalign.evaluate import checks as evaluate
    from mwalign.models import checks as models
    from mwalign.sample import checks as sample
    from mwalign.train import checks as train
    from mwalign.translate import checks as translate

    train.check_removed_keys(config)
    check_config_size(config)
    apply_schema(config)
    check_languages(config)
    sample.check_config(config["corpus"])
    for kind in ("students", "runs"):
        for name in config[kind]:
            check_name(kind[:-1], name)
    models.check_config(config)
    check_model_names(config)
    check_sweeps(config)
    canonical_languages(config)
    _as_config_error(translate.check_config, config)
    _as_config_error(train.check_config, config)
    _as_config_error(evaluate.check_config, config)
    return config


def check_inputs(config: dict[str, Any], *, cache_dir: str | Path = CHECKS_CACHE_DIR) -> None:
    """A validated config against the data, models and caches at hand; ConfigError names the
    key, the value and what is allowed.

    Runs once per workflow run, in Snakemake's main process, right after
    :func:`validate_config`: it stops a run before any job starts (and before Snakemake
    deletes a job's old outputs) when a size exceeds what the data holds, a length
    exceeds a model's position limit, or the config needs the Hugging Face hub while
    ``HF_HUB_OFFLINE`` is set. It never uses the network: it reads the packaged Bible,
    corpus files, model folders and the local caches only. Counting the Bible's usable
    verses takes seconds, so counts are kept in ``cache_dir`` (:func:`mwalign.bible.cached_count`).

    Where the information is not there yet (a model not materialised, a Hugging Face
    corpus), the job checks the same thing first, before it touches any output.
    """
    from mwalign.evaluate import checks as evaluate
    from mwalign.models import checks as models
    from mwalign.sample import checks as sample
    from mwalign.train import checks as train

    cache_dir = Path(cache_dir)
    if hub_offline():
        hint = "unset HF_HUB_OFFLINE where the hub is reachable, or"
        sample.check_offline(config, hint=hint)
        models.check_offline(config, hint=hint)
        evaluate.check_offline(config, hint=hint)
    rows = sample.check_corpus_size(config, cache_dir=cache_dir)
    train.check_batches(config, rows=rows)
    evaluate.check_pool_size(config, cache_dir=cache_dir)
    train.check_model_limits(config)


# At most this many values (mapping entries and list items, counted after every alias is
# expanded) in a config file or a merged config: the largest experiment file has a few
# hundred; a "billion laughs" of nested aliases has billions and would exhaust memory.
MAX_CONFIG_VALUES = 100_000


def _where(path: str | Path, mark: yaml.Mark | None) -> str:
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (any depth).

    Keys brought in by a merge key (``<<: *anchor``) may be given again beside it: that is
    what a merge is for (experiments/raw-student.yaml). ``path`` names the file in errors.
    """

    path: str = "<config>"

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeLoader's own error follows
                if first is not None:
                    raise ConfigError(
                        f"{_where(self.path, key_node.start_mark)}: key {key!r} is given twice "
                        f"in one mapping (first at line {first.line + 1}); YAML would keep "
                        "only the last one: remove or rename one of them"
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values under ``node`` with every alias expanded; each node counted once (``sizes``
    memoises), so an alias bomb is measured in the time of its written size."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once rather than looping
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(v, sizes) + 1 for _, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, sizes) for v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def _largest_over(node: yaml.Node, sizes: dict[int, int], limit: int) -> yaml.Node:
    """The innermost node under ``node`` that still expands to more than ``limit`` values."""
    while True:
        children = (
            [v for _, v in node.value]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        over = [child for child in children if sizes.get(id(child), 0) > limit]
        if not over:
            return node
        node = over[0]


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a config file holds; ConfigError names the file, the line and the column.

    The one reader of every config file (config.yaml, each ``--configfile`` overlay,
    ``mwalign check``): UTF-8 text, YAML without syntax errors or tabs, no key given twice
    at any depth, aliases that expand to at most :data:`MAX_CONFIG_VALUES` values
    (anchors and merge keys are fine), and a mapping at the top.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(
            f"{path}, line {line}, column {column}: not UTF-8 text (byte 0x{raw[err.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    loader = _ConfigLoader(text)
    loader.path = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                f"{path}: the file is empty; a config file is a mapping of keys "
                "(seed:, languages:, runs:, ...)"
            )
        sizes: dict[int, int] = {}
        if _expanded_size(node, sizes) > MAX_CONFIG_VALUES:
            where = _largest_over(node, sizes, MAX_CONFIG_VALUES).start_mark
            raise ConfigError(
                f"{_where(path, where)}: its aliases (*name) expand to more than "
                f"{MAX_CONFIG_VALUES} values; a config needs far fewer: write the values out "
                "or use fewer nested aliases"
            )
        if not isinstance(node, yaml.MappingNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
            raise ConfigError(
                f"{_where(path, node.start_mark)}: the file holds {kind}; a config file is a "
                "mapping of keys (seed:, languages:, runs:, ...)"
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = "; ".join(str(part) for part in (err.context, err.problem) if part)
        if "'\\t'" in what:
            what += " (a tab: YAML is indented with spaces only)"
        raise ConfigError(f"{_where(path, mark)}: YAML syntax error: {what}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: YAML syntax error: {err}") from None
    finally:
        loader.dispose()


def check_config_file(path: str | Path) -> None:
    """Raise ConfigError naming the file, line and column of what is wrong in ``path``
    (:func:`read_config_file`); a missing file is left to Snakemake, which names it.

    Snakemake reports a YAML syntax error only as "Config file is not valid JSON or YAML";
    the Snakefile calls this before its ``configfile:`` directive reads the file, and on
    every ``--configfile`` overlay (read by Snakemake already: a duplicate key or an alias
    bomb gets here; a syntax error stops in Snakemake, and ``mwalign check FILE`` names
    its line and column).
    """
    if Path(path).is_file():
        read_config_file(path)


def or_exit(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``check``; a ConfigError ends the process with its message alone (exit code 1),
    without the Python stack Snakemake would print for an error in a Snakefile."""
    try:
        return check(*args, **kwargs)
    except ConfigError as err:
        print(f"ConfigError: {err}", file=sys.stderr)
        raise SystemExit(1) from None


def check_config_size(config: Any, *, limit: int = MAX_CONFIG_VALUES) -> None:
    """Raise ConfigError when ``config`` (as loaded: aliases are shared objects) would
    expand to more than ``limit`` values: before anything walks or copies it."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if id(value) in sizes:
            return sizes[id(value)]
        sizes[id(value)] = 1
        if isinstance(value, dict):
            total = 1 + sum(size(v) + 1 for v in value.values())
        elif isinstance(value, list):
            total = 1 + sum(size(v) for v in value)
        else:
            total = 1
        sizes[id(value)] = total
        return total

    if size(config) > limit:
        big = [key for key, value in config.items() if sizes.get(id(value), 0) > limit]
        raise ConfigError(
            f"config key {'.'.join(map(str, big[:1])) or '(top level)'}: expands to more "
            f"than {limit} values (nested YAML aliases?); a config needs far fewer"
        )


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read, merge ``overrides`` (top-level keys) and validate a config file."""
    config = read_config_file(path)
    config.update(overrides or {})
    return validate_config(config)
