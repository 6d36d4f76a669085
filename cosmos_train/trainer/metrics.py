"""The metrics sink: ``<job>/metrics.jsonl`` always, TensorBoard event files when installed."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

__all__ = ["MetricsWriter"]

log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """JSON-safe scalars: tensors become floats; NaN/Inf become strings JSON can carry."""
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsWriter:
    """Appends one JSON object per call to ``metrics.jsonl`` and mirrors scalars to TensorBoard.

    Only rank 0 writes; other ranks get a writer whose ``write`` does nothing.

    Args:
        job_dir: the job directory; enabled: False on non-zero ranks; tensorboard: try to write
            event files under ``<job>/tensorboard`` (skipped with one log line when the
            ``tensorboard`` package is missing).
    """

    def __init__(
        self, job_dir: str | Path, *, enabled: bool = True, tensorboard: bool = True
    ) -> None:
        self.path = Path(job_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._file = None
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(Path(job_dir) / "tensorboard"))
            except Exception as exc:  # ImportError without tensorboard; keep training
                log.info("TensorBoard logging off (%s); metrics.jsonl is still written", exc)

    def write(self, row: dict[str, Any], *, prefix: str = "train") -> None:
        """Writes ``row`` (must hold ``iteration``)."""
        if not self.enabled:
            return
        clean = {k: _clean(v) for k, v in row.items()}
        if self._file is None:  # opened lazily, and again after close() (validate() after fit)
            self._file = open(self.path, "a", buffering=1, encoding="utf-8")
        self._file.write(json.dumps(clean, sort_keys=False) + "\n")
        if self._tb is not None:
            step = int(clean["iteration"])
            for key, value in clean.items():
                if (
                    key != "iteration"
                    and isinstance(value, (int, float))
                    and not isinstance(value, bool)
                ):
                    self._tb.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
