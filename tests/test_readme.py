"""README.md stays true: every shell command in it is classified, and the cheap ones run, in order.

Commands are read from fenced ``bash``/``sh``/``shell`` blocks (one command per line, ``\\``
continuations joined, ``&&`` chains split into steps) and from inline code spans that start like a
command (``python ...``, ``torchrun ...``, ``pip ...``, ``tools/...``, ``PYTHONPATH=...``). The
fenced ``python`` blocks (the notebook snippet) run as scripts.

Every command step is classified by its first words (environment assignments such as
``PYTHONPATH=.`` dropped, ``python3`` read as ``python``) with :data:`RULES`: either it RUNS
(as written, or shrunk to a few steps for ``tools/train.py`` trainings) or it is SKIPPED with the
reason written in the table. A command no rule matches fails
:func:`test_every_command_is_classified`
with what to do, so a new README command is never silently skipped.

Runs share one fresh output root (``IMAGINAIRE_OUTPUT_ROOT`` in a temporary directory) and the
repository as working directory, in README order, so "train, then resume, then sample" sequences
are checked as a reader would run them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Step counts in training commands are divided by this (2000 -> 20), cadences are shrunk to match.
STEP_SCALE = 100
#: Appended to every tiny training so it takes seconds: logging, validation, checkpoints and
#: samples all happen within the shortened run. Globs skip callbacks a command did not select.
SHRINK = [
    "trainer.logging_iter=10",
    "trainer.validation_iter=20",
    "trainer.max_val_iter=1",
    "checkpoint.save_iter=20",
    "scheduler.warm_up_steps=[1]",
    "trainer.callbacks.*.num_steps=2",
    "trainer.callbacks.*.num_samples=1",
]
#: Sample cadences (every_n_sample_*) are set through their own glob-free keys when present.
SAMPLE_EVERY = 20
#: Experiment names the README uses as placeholders in synopses (``tools/train.py EXPERIMENT.py
#: ...``).
SYNOPSIS_EXPERIMENTS = ("EXPERIMENT.py", "X.py")
#: lazycfg CLI subcommands (the table's ``show/explain/diff/check`` is a list, not a command).
LAZYCFG_COMMANDS = ("show", "explain", "diff", "check")
#: Placeholders a runnable command may use, and what they stand for in the test (the README's
#: paths assume the default output root; the test's root is a fresh temporary directory).
PLACEHOLDERS = {"<job dir>": "{job_dir}", "/tmp/imaginaire4-output": "{out_root}"}


# ---- extraction -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command step of the README: its text and the README line it starts on."""

    text: str
    line: int
    kind: str = "shell"  # "shell" or "python" (a fenced python block)

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text if self.kind == 'shell' else '<python block>'}"


_FENCE = re.compile(r"^```(\w*)\s*$")
_INLINE = re.compile(r"`([^`]+)`", re.S)
_COMMAND_START = re.compile(
    r"^(?:[A-Z_]+=\S*\s+)*(?:python3?|torchrun|pip|tools/\S+\.py|\. \.venv)\b"
)


def _split_steps(text: str, line: int) -> list[Command]:
    return [Command(step.strip(), line) for step in text.split("&&") if step.strip()]


def extract(readme: str) -> list[Command]:
    """Every command step and python block of ``readme``, in order."""
    out: list[Command] = []
    lines = readme.splitlines()
    i = 0
    prose: list[tuple[int, str]] = []
    while i < len(lines):
        fence = _FENCE.match(lines[i].strip())
        if not fence:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        out.extend(_inline(prose))
        prose = []
        lang, start = fence.group(1), i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # closing fence
        if lang in ("bash", "sh", "shell"):
            pending, first = "", 0
            for n, raw in enumerate(body, start=start + 1):
                text = raw.strip()
                if not text or text.startswith("#"):
                    continue
                if not pending:
                    first = n
                if text.endswith("\\"):
                    pending += text[:-1].rstrip() + " "
                    continue
                out.extend(_split_steps(pending + text, first))
                pending = ""
        elif lang == "python":
            out.append(Command("\n".join(body), start, kind="python"))
    out.extend(_inline(prose))
    return out


def _inline(prose: list[tuple[int, str]]) -> list[Command]:
    """Commands in inline code spans of a run of prose lines (spans may wrap over lines)."""
    if not prose:
        return []
    text = "\n".join(line for _, line in prose)
    found = []
    for match in _INLINE.finditer(text):
        span = " ".join(match.group(1).split())
        if _COMMAND_START.match(span):
            line = prose[0][0] + text.count("\n", 0, match.start())
            found.extend(_split_steps(span, line))
    return found


# ---- classification ---------------------------------------------------------------------------


def _words(command: str) -> list[str]:
    """The command's words without leading VAR=value assignments, ``python3`` read as ``python``."""
    words = shlex.split(command, comments=True)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    if words and words[0] == "python3":
        words[0] = "python"
    if words and words[0].startswith("tools/"):
        words = ["python", *words]
    return words


@dataclass(frozen=True)
class Action:
    """What the test does with a command: ``argv`` to run, or ``skip`` with the reason."""

    argv: tuple[str, ...] | None = None
    skip: str | None = None
    ok_codes: tuple[int, ...] = (0,)


def _as_written(words: list[str]) -> Action:
    return Action(argv=(sys.executable, *words[1:]))


def _train(words: list[str]) -> Action:
    """tools/train.py: --dryrun/--explain run as written; tiny_cpu trainings run shrunk; others
    skip."""
    args = words[2:]
    if not args or args[0] in SYNOPSIS_EXPERIMENTS:
        return Action(skip=f"a synopsis ({args[0] if args else 'no experiment'} is a placeholder)")
    if "--dryrun" in args or "--explain" in args:
        return _as_written(words)
    if Path(args[0]).name != "tiny_cpu.py":
        return Action(
            skip=f"trains {args[0]} (a 2B+ net: GPU; its --dryrun and tests/experiments cover it)"
        )
    return Action(argv=(sys.executable, *words[1:3], *_shrink(args[1:])))


def _shrink(overrides: list[str]) -> list[str]:
    """The overrides with step counts divided by STEP_SCALE, plus the fast cadences."""
    out, has_max, has_cycle = [], False, False
    for item in overrides:
        key, _, value = item.partition("=")
        if key == "trainer.max_iter":
            item, has_max = f"{key}={max(1, int(value) // STEP_SCALE)}", True
        elif key == "scheduler.cycle_lengths":
            steps = [max(1, int(v) // STEP_SCALE) for v in value.strip("[]").split(",")]
            item, has_cycle = f"{key}=[{','.join(map(str, steps))}]", True
        out.append(item)
    if not has_max or not has_cycle:
        import lazycfg  # torch-free: the experiment's own step count, scaled like the others

        default = lazycfg.load(str(ROOT / "experiments" / "tiny_cpu.py")).trainer.max_iter
        out += [] if has_max else [f"trainer.max_iter={max(1, default // STEP_SCALE)}"]
        out += [] if has_cycle else [f"scheduler.cycle_lengths=[{max(1, default // STEP_SCALE)}]"]
    callbacks = next((o for o in overrides if o.startswith("callbacks=")), "viz_online_sampling")
    if "viz_online_sampling" in callbacks:
        out += [
            f"trainer.callbacks.{n}.every_n={SAMPLE_EVERY}"
            for n in ("every_n_sample_reg", "every_n_sample_ema")
        ]
    return out + SHRINK


def _lazycfg(words: list[str]) -> Action:
    if words[3:4] and words[3] in LAZYCFG_COMMANDS:
        # diff exits 1 when the configs differ, like diff(1).
        return Action(
            argv=(sys.executable, *words[1:]), ok_codes=(0, 1) if words[3] == "diff" else (0,)
        )
    return Action(skip=f"lists the lazycfg subcommands ({' '.join(words[3:])}), not a command")


def _eval_synthetic(words: list[str]) -> Action:
    return Action(argv=(sys.executable, *words[1:], "--num-clips", "2", "--steps", "2"))


def _skip(reason: str) -> Callable[[list[str]], Action]:
    return lambda words: Action(skip=reason)


#: (first words, action). The first entry whose words start the command wins. Add your README
#: command here: RUN it when it takes seconds on a CPU without network (shrink it like
#: ``_train`` if needed), else SKIP it with the reason.
RULES: list[tuple[tuple[str, ...], Callable[[list[str]], Action]]] = [
    (("python", "-m", "venv"), _skip("creates a virtual environment: CI sets up its own")),
    ((".", ".venv/bin/activate"), _skip("activates the virtual environment: CI runs inside one")),
    (("pip", "install"), _skip("installs packages: CI installs the project before the tests")),
    (("python", "-m", "pytest"), _skip("runs the test suite, which this test is part of")),
    (("python", "-m", "lazycfg"), _lazycfg),
    (("python", "tools/train.py"), _train),
    (("python", "tools/eval_synthetic.py"), _eval_synthetic),
    (
        ("torchrun",),
        _skip(
            "multi-process/multi-node launches (tests/tools/test_train.py runs a 2-rank torchrun)"
        ),
    ),
    (
        ("python", "tools/gpu_check.py"),
        _skip("needs an H100 or its result file (tests/tools/test_gpu_check.py)"),
    ),
    (
        ("python", "tools/prepare_nemo_assets.py"),
        _skip("needs the user's own videos (tests/tools/test_prepare_nemo_assets.py)"),
    ),
    (
        ("python", "tools/generate.py"),
        _skip("needs a prompt embedding file / official weights (tests/tools/test_generate.py)"),
    ),
    (
        ("python", "scripts/train.py"),
        _skip("Cosmos's own command (the migration table's left column)"),
    ),
    (
        ("python", "tools/plan_parallelism.py"),
        _skip("a synopsis (EXPERIMENT, N are placeholders; tests/tools/test_plan_parallelism.py)"),
    ),
    (
        ("python", "tools/export_checkpoint.py"),
        _skip("needs a LoRA-trained job (tests/tools/test_export_checkpoint_lora.py)"),
    ),
    (
        ("python", "tools/bench_data.py"),
        _skip("a benchmark, named in prose (tests/tools/test_bench_data_tools.py)"),
    ),
    (("python", "tools/bench_e2e_gpu.py"), _skip("a GPU benchmark, named in prose")),
    (
        ("python", "tools/bench_lora.py"),
        _skip("a CPU benchmark of minutes (results in docs/benchmarks.md)"),
    ),
    (("python", "tools/bench_lora_gpu.py"), _skip("a GPU benchmark, named in prose")),
    (
        ("python", "tools/compute_text_embeddings.py"),
        _skip("needs a dataset folder (tests/tools/test_compute_text_embeddings.py)"),
    ),
]


def classify(command: Command) -> tuple[Action | None, tuple[str, ...] | None]:
    """The action for ``command`` and the RULES key that matched (``(None, None)``:
    unclassified)."""
    if command.kind == "python":
        return Action(argv=(sys.executable, "-c", command.text)), ("<python block>",)
    words = _words(command.text)
    if not words:  # only VAR=value: sets a shell variable for the lines below
        return Action(skip="a shell variable assignment"), ("<assignment>",)
    for key, action in RULES:
        if tuple(words[: len(key)]) == key:
            return action(words), key
    return None, None


# ---- tests -------------------------------------------------------------------------------------

COMMANDS = extract(README.read_text(encoding="utf-8"))


def test_the_readme_has_commands_to_check():
    kinds = {c.kind for c in COMMANDS}
    assert kinds == {"shell", "python"} and len(COMMANDS) > 10


def test_every_command_is_classified():
    unclassified = [str(c) for c in COMMANDS if classify(c)[0] is None]
    assert not unclassified, (
        "README commands that tests/test_readme.py does not know:\n  "
        + "\n  ".join(unclassified)
        + "\nAdd a rule to RULES in tests/test_readme.py, keyed by the command's first words: "
        "RUN it (as written, or shrunk like _train) when it takes seconds on 2 CPU cores without "
        "network, else SKIP it with the reason (and where it is tested instead)."
    )


def test_every_rule_is_used():
    used = {classify(c)[1] for c in COMMANDS}
    stale = [" ".join(key) for key, _ in RULES if key not in used]
    assert not stale, (
        f"RULES entries no README command uses (remove them from tests/test_readme.py): {stale}"
    )


def test_extraction_of_blocks_chains_continuations_and_inline_spans():
    text = (
        "Run `python tools/train.py X.py\n--dryrun` or `trainer.max_iter=5`.\n"
        "```bash\n# comment\na && b \\\n  c\n```\n"
        "```python\nprint(1)\n```\n"
    )
    found = [(c.text, c.line, c.kind) for c in extract(text)]
    assert found == [
        ("python tools/train.py X.py --dryrun", 1, "shell"),
        ("a", 5, "shell"),
        ("b c", 5, "shell"),
        ("print(1)", 8, "python"),
    ]


def test_shrink_scales_step_counts_and_keeps_resume_consistent():
    first = _train(_words("python tools/train.py experiments/tiny_cpu.py")).argv
    again = _train(
        _words("python tools/train.py experiments/tiny_cpu.py trainer.max_iter=4000")
    ).argv
    assert "trainer.max_iter=20" in first and "scheduler.cycle_lengths=[20]" in first
    assert "trainer.max_iter=40" in again and "scheduler.cycle_lengths=[20]" in again


@pytest.mark.slow
def test_readme_commands_run_in_order(tmp_path):
    """Runs every RUN command and python block in README order in one fresh output root."""
    env = dict(
        os.environ,
        IMAGINAIRE_OUTPUT_ROOT=str(tmp_path / "out"),
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
    )
    job_dir = tmp_path / "out" / "cosmos_train" / "cpu" / "tiny_cpu"
    ran, failures = [], []
    for command in COMMANDS:
        action, _ = classify(command)
        assert action is not None, f"unclassified: {command} (see test_every_command_is_classified)"
        if action.skip:
            continue
        argv = list(action.argv)
        for key, value in PLACEHOLDERS.items():
            argv = [
                a.replace(key, value.format(job_dir=job_dir, out_root=tmp_path / "out"))
                for a in argv
            ]
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        ran.append(str(command))
        if proc.returncode not in action.ok_codes:
            failures.append(
                f"{command}\n  ran: {shlex.join(argv)[:400]}\n  exit {proc.returncode}:\n"
                + (proc.stdout[-1500:] + proc.stderr[-2500:])
            )
    assert not failures, "README commands that fail as written:\n\n" + "\n\n".join(failures)
    assert any("tools/train.py experiments/tiny_cpu.py" in r and "--dryrun" not in r for r in ran)
    assert any("<python block>" in r for r in ran)
