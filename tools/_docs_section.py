"""One tool's section of ``docs/benchmarks.md``.

Each benchmark owns the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` and
rewrites only that, leaving the others alone.
"""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(path: str | Path, name: str, body: str) -> None:
    """Writes ``body`` as section ``name`` of ``path`` (replacing it, or appending it if missing).

    ``body`` may already be wrapped in the section's markers; they are not doubled.
    """
    start, end = markers(name)
    body = body.strip("\n")
    if body.startswith(start) and body.endswith(end):
        body = body[len(start) : -len(end)].strip("\n")
    block = f"{start}\n{body}\n{end}\n"
    path = Path(path)
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail.lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
