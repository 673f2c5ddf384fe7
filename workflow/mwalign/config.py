"""Config loading and validation: the JSON schema (with defaults) plus cross-field checks.

The Snakefile calls :func:`validate_config` at parse time, so a bad config stops the
run before any job starts, with a message naming the key, the value and what is
allowed. Tests call :func:`load_config` on a YAML file without Snakemake.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mwalign import bible
from mwalign.languages import LANGUAGES, language
from mwalign.paths import BASE_PREFIX, SOURCE_LANGUAGE

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE = SCHEMA_DIR / "config.schema.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ConfigError(ValueError):
    """The experiment config is invalid; the message names the key and what is allowed."""


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


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(kind: str, name: str) -> None:
    """Run, student and task names become file names: letters, digits, '.', '_', '-'."""
    if not _SAFE_NAME.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not allowed; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )


def check_corpus(corpus: dict[str, Any]) -> None:
    """Length bounds, book range, the Bible edition or the corpus file of the chosen source."""
    if corpus["min_chars"] > corpus["max_chars"]:
        raise ConfigError(
            f"config.corpus.min_chars ({corpus['min_chars']}) exceeds "
            f"config.corpus.max_chars ({corpus['max_chars']})"
        )
    books = corpus["bible"]["books"]
    if books[0] > books[1]:
        raise ConfigError(f"config.corpus.bible.books {books}: first book after last book")
    if corpus["source"] == "bible":
        try:
            bible.check_edition(corpus["bible"]["edition"])
        except ValueError as err:
            raise ConfigError(f"config.corpus.bible.edition: {err}") from None
    if corpus["source"] == "file":
        path = corpus["file"]["path"]
        if not path:
            raise ConfigError("config.corpus.source is 'file' but corpus.file.path is not set")
        if not Path(path).is_file():
            raise ConfigError(
                f"config.corpus.file.path {path!r} is not a file (relative paths are read "
                "from the working directory); allowed: a .txt, .jsonl or .parquet file"
            )
    if corpus["source"] == "huggingface" and not corpus["huggingface"]["name"]:
        raise ConfigError(
            "config.corpus.source is 'huggingface' but corpus.huggingface.name is not set"
        )


def check_model_names(config: dict[str, Any]) -> None:
    """Base models (``base-{student}``), runs and seeds' jobs (``{run}-seed{k}``) never share
    a name: each is one result folder."""
    from mwalign.plan import model_name_sources

    first: dict[str, str] = {}
    for name, source in model_name_sources(config):
        if name in first:
            raise ConfigError(
                f"model name {name!r} is made twice: by {first[name]} and by {source} "
                f"(base models are named {BASE_PREFIX}{{student}}, a run with several seeds "
                "{run}-seed{k}); rename one of them"
            )
        first[name] = source


def check_corpus_use(config: dict[str, Any]) -> None:
    """The corpus file's format is known; the reference backend gets Bible verses."""
    from mwalign.sample import FILE_FORMATS, file_format

    corpus = config["corpus"]
    if corpus["source"] == "file":
        try:
            file_format(Path(corpus["file"]["path"]), corpus["file"]["format"])
        except ValueError as err:
            raise ConfigError(f"config.{err}") from None
    backend = config["translate"]["backend"]
    if backend == "reference" and corpus["source"] != "bible":
        raise ConfigError(
            f"config.translate.backend 'reference' looks up the human translation of each Bible "
            f"verse, but config.corpus.source is {corpus['source']!r}; allowed: corpus.source "
            "'bible' with backend 'reference', or backend 'transformers' or 'vllm' for "
            f"{'/'.join(FILE_FORMATS)} files and Hugging Face datasets"
        )


def _translator_model(config: dict[str, Any]) -> tuple[str, str] | None:
    """(config key, model id as written) of the configured translator; None for `reference`."""
    backend = config["translate"]["backend"]
    if backend not in ("transformers", "ctranslate2", "vllm"):
        return None
    return f"translate.{backend}.model", config["translate"][backend]["model"]


def config_model_ids(config: dict[str, Any]) -> dict[str, str]:
    """Every model id a validated ``config`` loads, keyed by where it appears.

    The teacher, each student, the similarity check's own encoder (if named), and the
    translator of the configured backend; a ``{lang}`` field of a translator id is filled
    in for every language.
    """
    ids = {"teacher.model": config["teacher"]["model"]}
    ids.update({f"students.{n}.model": s["model"] for n, s in config["students"].items()})
    similarity = config["translate"]["similarity"]
    if similarity["enabled"] and similarity["model"] is not None:
        ids["translate.similarity.model"] = similarity["model"]
    translator = _translator_model(config)
    if translator is not None:
        key, model = translator
        if "{lang}" in model:
            ids.update({f"{key} ({c})": model.replace("{lang}", c) for c in config["languages"]})
        else:
            ids[key] = model
    return ids


def check_models(config: dict[str, Any]) -> None:
    """Model ids are Hugging Face ids or absolute local folders, never paths out or shell text."""
    from mwalign.models.ids import validate_model_id

    for key, model_id in config_model_ids(config).items():
        try:
            validate_model_id(model_id)
        except ValueError as err:
            raise ConfigError(f"config.{key}: {err}") from None
    gguf = config["translate"]["transformers"]["gguf_file"]
    safe = gguf is None or (all(map(_SAFE_NAME.match, gguf.split("/"))) and gguf.endswith(".gguf"))
    if config["translate"]["backend"] == "transformers" and not safe:
        raise ConfigError(
            f"config.translate.transformers.gguf_file {gguf!r} is not allowed; use a "
            "'.gguf' file inside the model folder: names of letters, digits, '.', '_', '-' "
            "(each starting with a letter or digit), folders separated by '/'"
        )
    check_remote_code(config)


def check_similarity(config: dict[str, Any]) -> None:
    """The similarity check needs an encoder: its own model, or a student to default to."""
    settings = config["translate"]["similarity"]
    if settings["enabled"] and settings["model"] is None and not config["students"]:
        raise ConfigError(
            "config.translate.similarity.enabled is true but translate.similarity.model is "
            "null and no student is configured; name an encoder in translate.similarity.model"
        )


def check_remote_code(config: dict[str, Any]) -> None:
    """Each entry of ``trust_remote_code`` must name a model that the experiment loads."""
    used = config_model_ids(config)
    allowed = set(used.values())
    translator = _translator_model(config)
    if translator is not None:
        allowed.add(translator[1])  # a {lang} template as written
    for entry in config["trust_remote_code"]:
        if entry not in allowed:
            raise ConfigError(
                f"config.trust_remote_code lists {entry!r}, which is not a model of this "
                f"experiment; allowed: {sorted(allowed)} (from {', '.join(sorted(used))})"
            )


def check_stages(config: dict[str, Any]) -> None:
    """Each stage's own cross-field checks (backends, objectives, tasks)."""
    from mwalign.evaluate import check_evaluate_config
    from mwalign.train import check_train_config
    from mwalign.translate import check_translate_config

    try:
        check_translate_config(config["translate"], config["languages"])
        check_train_config(config)
        check_evaluate_config(config)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Schema (with defaults) + cross-field checks; returns ``config`` filled in place."""
    apply_schema(config)
    check_languages(config)
    check_corpus(config["corpus"])
    for kind in ("students", "runs"):
        for name in config[kind]:
            check_name(kind[:-1], name)
    check_models(config)
    check_similarity(config)
    check_model_names(config)
    check_corpus_use(config)
    check_stages(config)
    return config


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


def known_languages() -> list[str]:
    return sorted(LANGUAGES)
