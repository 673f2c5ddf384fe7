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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mwalign.errors import ConfigError
from mwalign.hub import hub_offline
from mwalign.languages import language
from mwalign.paths import BASE_PREFIX, CHECKS_CACHE_DIR, SAFE_NAME, SOURCE_LANGUAGE

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE = SCHEMA_DIR / "config.schema.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

__all__ = ["ConfigError", "check_config_file", "check_inputs", "load_config", "validate_config"]


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


def _with_defaults(validator_class: type) -> type:
    """jsonschema's default-filling validator (its FAQ): fill each ``default``, then validate."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, plus the allowed keys or the repeated items where it omits them."""
    if error.validator == "additionalProperties" and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        if allowed:
            return f"{error.message}; allowed keys: {allowed}"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        items = error.instance
        repeated = [item for i, item in enumerate(items) if item in items[:i]]
        return f"{items!r} lists {repeated!r} more than once; each item may appear once"
    return error.message


def apply_schema(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into ``config`` (in place) and validate it against the schema."""
    schema = load_schema(SCHEMA_FILE.name)
    schema.setdefault("$id", SCHEMA_FILE.as_uri())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema, registry=_registry())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key {_key_path(err)}: {_message(err)}" for err in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
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


def check_name(kind: str, name: str) -> None:
    """Run, student and task names become file names: letters, digits, '.', '_', '-'."""
    if not SAFE_NAME.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not allowed; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
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
    run (checked against the schema as if the run were written with the point's values)."""
    from mwalign.jobs import sweep_points

    # every point is chosen on the same metric, and report_to never changes a model
    allowed = sorted(set(config["train"]) - {"report_to", "dev_metric"})
    for name, run in config["runs"].items():
        for key in run.get("sweep") or {}:
            if key not in allowed:
                raise ConfigError(
                    f"config.runs.{name}.sweep.{key}: not a train setting; allowed: {allowed}"
                )
        for point_name, point in sweep_points(config, name).items():
            single = {k: v for k, v in run.items() if k != "sweep"} | point
            try:
                apply_schema(copy.deepcopy({**config, "runs": {name: single}}))
            except ConfigError as err:
                detail = str(err).removeprefix("invalid config:\n  ").replace("\n  ", "; ")
                raise ConfigError(
                    f"config.runs.{name}.sweep: point {point_name!r} is not a valid run: {detail}"
                ) from None


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
    apply_schema(config)
    check_languages(config)
    sample.check_config(config["corpus"])
    for kind in ("students", "runs"):
        for name in config[kind]:
            check_name(kind[:-1], name)
    models.check_config(config)
    check_model_names(config)
    check_sweeps(config)
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


def check_config_file(path: str | Path) -> None:
    """Raise ConfigError naming the file, line and column of a YAML syntax error in ``path``.

    Snakemake reports such an error only as "Config file is not valid JSON or YAML"; the
    Snakefile calls this before its ``configfile:`` directive reads the file.
    """
    try:
        yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return  # Snakemake says which file is missing
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}): {err.reason}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        what = "; ".join(str(part) for part in (err.context, err.problem) if part)
        if "'\\t'" in what:
            what += " (a tab: YAML is indented with spaces only)"
        raise ConfigError(f"{path}, {where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: YAML syntax error: {err}") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read, merge ``overrides`` (top-level keys) and validate a config file."""
    check_config_file(path)
    config = yaml.safe_load(Path(path).read_text()) or {}
    config.update(overrides or {})
    return validate_config(config)
