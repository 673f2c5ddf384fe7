"""The ``mwalign`` command: check an experiment config, or show its job table.

    mwalign check config.yaml [experiments/extended.yaml ...]
    mwalign plan config.yaml [...]

Several files merge in order, as Snakemake merges several ``--configfile`` arguments.
Both commands run the same checks as the workflow's parse step, from the current folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def _merged(paths: list[Path]) -> dict:
    from snakemake.utils import update_config

    from mwalign.config import check_config_file

    config: dict = {}
    for path in paths:
        check_config_file(path)  # a YAML syntax error with its line and column
        update_config(config, yaml.safe_load(path.read_text()) or {})
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mwalign", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate configs and print the filled config")
    plan = commands.add_parser("plan", help="validate configs and print the job table")
    for command in (check, plan):
        command.add_argument("configs", nargs="+", type=Path, help="config YAML files, merged")
    args = parser.parse_args(argv)

    from mwalign.config import ConfigError, check_inputs, validate_config
    from mwalign.plan import job_table
    from mwalign.runner import point_caches_into

    point_caches_into(".")
    try:
        config = validate_config(_merged(args.configs))
        check_inputs(config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    if args.command == "check":
        yaml.safe_dump(config, sys.stdout, sort_keys=False, allow_unicode=True)
    else:
        for row in job_table(config):
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
