#!/usr/bin/env python
"""Train an experiment: ``python tools/train.py EXPERIMENT.py [key=value ...] [--dryrun]
[--smoke]``.

Works alone (one process) and under ``torchrun --nproc_per_node=N``. Overrides use lazycfg's
grammar (README.md, "Overrides"): ``trainer.max_iter=100``, ``optimizer=adamw`` (group choice),
``+a.b=1`` (add), ``~a.b`` (delete), ``a.list+=[3]`` (append), ``trainer.callbacks.*.every_n=5``
(glob).

Flags:
    --dryrun      print the resolved config (with the group choices; ``--provenance`` adds where
                  each value came from), run ``check()`` and ``validate()``, write
                  ``<job dir>/config.yaml`` and exit without training (exit 1 on problems).
                  A real run makes the same checks before building anything and stops on the
                  same problem lines (exit 2).
    --smoke       one iteration with logging, validation and a checkpoint every iteration,
                  as a new job ``<name>_smoke_<timestamp>`` (a real run's checkpoints are not
                  touched).
    --explain P   print the history of config path P (repeatable) and exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Runs from a source checkout without installation (``PYTHONPATH=.`` is not needed).
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import lazycfg  # noqa: E402
from lazycfg import ConfigError  # noqa: E402

SMOKE_OVERRIDES = (
    "job.wandb_mode=disabled",
    "trainer.max_iter=1",
    "trainer.logging_iter=1",
    "trainer.validation_iter=1",
    "checkpoint.save_iter=1",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/train.py",
        description="Train a cosmos_train experiment file with key=value overrides.",
        epilog="Example: python tools/train.py experiments/tiny_cpu.py trainer.max_iter=50 "
        "optimizer.lr=1e-3",
    )
    parser.add_argument(
        "experiment", help="experiment file (experiments/*.py) or a saved config.yaml"
    )
    parser.add_argument(
        "overrides", nargs="*", help="overrides: key=value, group=option, +key=v, ~key, key+=v"
    )
    parser.add_argument(
        "--dryrun", action="store_true", help="print and save the config, check it, do not train"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="1 iteration; log, validate and save every iteration"
    )
    parser.add_argument(
        "--provenance", action="store_true", help="with --dryrun: show where every value came from"
    )
    parser.add_argument(
        "--explain",
        action="append",
        default=[],
        metavar="PATH",
        help="print the history of PATH and exit",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    # Cosmos command lines separate overrides with "--"; accept and drop it.
    argv = [a for a in argv if a != "--"]
    return parser.parse_intermixed_args(argv)


def load_config(args: argparse.Namespace) -> object:
    """Loads the experiment with the command-line overrides (plus ``--smoke``'s)."""
    path = Path(args.experiment)
    if not path.is_file():
        experiments = sorted(p.name for p in (_ROOT / "experiments").glob("*.py"))
        raise ConfigError(
            f"experiment file {str(path)!r} does not exist (cwd: {os.getcwd()}). "
            f"Experiments in {_ROOT / 'experiments'}: {', '.join(experiments) or 'none'}"
        )
    config = lazycfg.load(str(path), list(args.overrides))
    if args.smoke:
        # A fresh job per smoke run (a rerun would otherwise resume at iteration 1 and do nothing).
        smoke = list(SMOKE_OVERRIDES) + [
            f"job.name={config.job.name}_smoke_${{now:%Y-%m-%d_%H-%M-%S}}"
        ]
        if config.dataloader_val is not None:
            smoke += ["trainer.run_validation=true", "trainer.max_val_iter=1"]
        lazycfg.apply_overrides(config, smoke)
    return config


def dryrun(config: object, *, provenance: bool) -> int:
    """Prints the resolved config, its choices and problems; writes config.yaml; returns the exit
    code."""
    lazycfg.resolve(config)
    print(config.pretty_print())
    print("\ngroup choices:")
    for group, option in lazycfg.choices(config).items():
        print(f"  {group}={option}")
    if provenance:
        print("\nprovenance (non-default values):")
        for line in _provenance_lines(config):
            print("  " + line)
    from cosmos_train.launch import config_problems

    problems = config_problems(config)
    from cosmos_train.launch import make_job_dir

    job_dir = make_job_dir(config.job.path_local)
    lazycfg.save(config, job_dir / "config.yaml")
    print(f"\nconfig written to {job_dir / 'config.yaml'}")
    from cosmos_train.launch import preflight_data

    try:  # the data folders are not part of the config: a note, not a problem
        preflight_data(config)
    except ConfigError as exc:
        print(f"note: training would stop here: {exc}")
    if problems:
        print("\nproblems:", file=sys.stderr)
        for p in problems:
            print("  " + p.replace("\n", "\n  "), file=sys.stderr)
        return 1
    print("check: no problems")
    return 0


def _provenance_lines(config: object) -> list[str]:
    """One ``path = value  <- source`` line per value whose history is known."""
    from lazycfg.tree import format_path, kind_of, walk  # the library's generic walker

    lines = []
    for keys, value in walk(config):
        if not keys or kind_of(value) not in ("leaf", "list", "tuple"):
            continue
        path = format_path(keys)
        try:
            history = lazycfg.explain(config, path)
        except (ConfigError, TypeError, AttributeError, KeyError):
            continue
        if history:
            lines.append(f"{path} = {value!r}  <- {history[-1].source}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cosmos_train.launch import run_cli

    return run_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    """Loads the config and explains, dry-runs or trains it; returns the exit code."""
    config = load_config(args)
    if args.explain:
        for path in args.explain:
            print(f"{path}:")
            for record in lazycfg.explain(config, path):
                print(f"  {record}")
        return 0
    if args.dryrun:
        return dryrun(config, provenance=args.provenance)
    from cosmos_train.launch import launch

    launch(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
