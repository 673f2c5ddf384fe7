"""The ``mwalign`` command: check an experiment config, show its job table or its cost.

    mwalign check config.yaml [experiments/extended.yaml ...]
    mwalign plan config.yaml [...]
    mwalign plan --cost [--gpu h100 | --device cpu] config.yaml [...]
    mwalign plan --comparisons config.yaml [...]

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

    from mwalign.config import read_config_file

    config: dict = {}
    for path in paths:
        # the file, line and column of a syntax error, a key given twice, an alias bomb
        update_config(config, read_config_file(path))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mwalign", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate configs and print the filled config")
    plan = commands.add_parser("plan", help="validate configs and print the job table")
    for command in (check, plan):
        command.add_argument("configs", nargs="+", type=Path, help="config YAML files, merged")
    plan.add_argument(
        "--cost",
        action="store_true",
        help="print the work per stage and its device time instead of the job table",
    )
    plan.add_argument(
        "--comparisons",
        action="store_true",
        help="print which runs the report compares and which it does not, and why",
    )
    plan.add_argument("--gpu", default="h100", help="GPU to estimate for (default h100)")
    plan.add_argument(
        "--device",
        choices=["gpu", "cpu"],
        default="gpu",
        help="cpu: estimate for this machine's CPU (a short probe measures it)",
    )
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
    elif args.cost:
        return _print_cost(config, gpu=None if args.device == "cpu" else args.gpu)
    elif args.comparisons:
        from mwalign.report.pairing import config_comparisons

        print("\n".join(config_comparisons(config).lines()))
    else:
        for row in job_table(config):
            print(json.dumps(row))
    return 0


def _print_cost(config: dict, *, gpu: str | None) -> int:
    from mwalign.cost import estimate, format_costs

    root = Path(".")
    try:
        costs, rates = estimate(config, gpu=gpu, root=root)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    print(format_costs(costs, rates, config, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
