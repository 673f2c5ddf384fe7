"""Conda environments for `snakemake --sdm conda` agree with pyproject.toml.

Conda itself is not needed: the files are parsed and compared with the package metadata.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "envs"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

# Extras of pyproject.toml each environment carries besides project.dependencies.
ENV_EXTRAS = {
    "cpu": ["offline", "llm-offline"],
    "gpu": ["offline", "llm-offline", "logging", "ctranslate2"],
    "vllm": ["offline", "llm-offline", "vllm"],
}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def load_env(name: str) -> dict:
    return yaml.safe_load((ENVS / f"{name}.yaml").read_text())


def conda_specs(env: dict) -> list[str]:
    return [item for item in env["dependencies"] if isinstance(item, str)]


def pip_lines(env: dict) -> list[str]:
    lists = [item["pip"] for item in env["dependencies"] if isinstance(item, dict)]
    assert len(lists) == 1, "expected exactly one `pip:` list in dependencies"
    return lists[0]


def pip_requirements(env: dict) -> dict[str, Requirement]:
    """Canonical name -> requirement of every pip line that is not an option (``--...``)."""
    requirements = [Requirement(line) for line in pip_lines(env) if not line.startswith("-")]
    by_name = {canonicalize_name(req.name): req for req in requirements}
    assert len(by_name) == len(requirements), "a package is listed twice"
    return by_name


def expected_requirements(extras: list[str]) -> dict[str, Requirement]:
    meta = project()
    lines = list(meta["dependencies"])
    for extra in extras:
        lines += meta["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


@pytest.mark.parametrize("name", sorted(ENV_EXTRAS))
def test_env_file_parses_with_python_and_pip(name):
    env = load_env(name)
    assert env["channels"][0] == "conda-forge"
    specs = conda_specs(env)
    assert "pip" in specs
    pythons = [spec for spec in specs if re.match(r"^python\b", spec)]
    assert len(pythons) == 1
    version = re.fullmatch(r"python[=<>!~ ]+(\d+\.\d+)(\.\*)?", pythons[0])
    assert version, f"python spec {pythons[0]!r} should name one minor version, e.g. python=3.11"
    assert SpecifierSet(project()["requires-python"]).contains(version.group(1))


@pytest.mark.parametrize("name", sorted(ENV_EXTRAS))
def test_env_lists_every_pyproject_dependency_with_its_specifier(name):
    listed = pip_requirements(load_env(name))
    expected = expected_requirements(ENV_EXTRAS[name])
    assert sorted(set(expected) - set(listed)) == [], "dependencies missing from the env"
    assert sorted(set(listed) - set(expected)) == [], "packages that pyproject.toml does not list"
    for package, requirement in expected.items():
        assert listed[package].specifier == requirement.specifier, package
        assert listed[package].marker == requirement.marker, package


def test_cpu_env_takes_torch_from_the_cpu_wheel_index():
    options = [line for line in pip_lines(load_env("cpu")) if line.startswith("-")]
    assert any(CPU_TORCH_INDEX in option for option in options)
    for name in ("gpu", "vllm"):
        assert not any(CPU_TORCH_INDEX in line for line in pip_lines(load_env(name)))


def test_no_env_installs_the_project_by_relative_path():
    # Snakemake copies env files into .snakemake/conda/ before creating them, so a
    # relative path such as `-e ..` would point into .snakemake, not the project.
    for name in ENV_EXTRAS:
        for line in pip_lines(load_env(name)):
            assert not re.match(r"^(-e|--editable)\b|^\.", line), (name, line)


def test_env_files_named_by_the_rules_exist():
    texts = [path.read_text() for path in (ROOT / "workflow/rules").glob("*.smk")]
    named = {match for text in texts for match in re.findall(r"envs/([\w.-]+\.ya?ml)", text)}
    assert named, "no rule names a conda environment"
    for file_name in sorted(named):
        env = yaml.safe_load((ENVS / file_name).read_text())
        assert "dependencies" in env, file_name


def test_pre_commit_hooks_run_the_linters_the_dev_extra_pins():
    """.pre-commit-config.yaml and CI (pyproject's dev extra) judge with the same versions."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    revs = {repo["repo"].rsplit("/", 1)[-1]: repo["rev"] for repo in hooks}
    pins = {}
    for line in project()["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    assert revs == {
        "ruff-pre-commit": f"v{pins['ruff'][2:]}",
        "snakefmt": f"v{pins['snakefmt'][2:]}",
    }
    assert pins["ruff"].startswith("==") and pins["snakefmt"].startswith("==")
