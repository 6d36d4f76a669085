"""An endless, resumable stream of training batches over epochs.

It calls ``set_epoch`` at every epoch start (Cosmos never did, so every epoch repeated one
permutation) and saves the position inside the epoch. Loaders with their own
``state_dict``/``load_state_dict`` (``cosmos_train.data.loader.build_dataloader``) restore the
position at the sampler level; any other iterable is fast-forwarded by skipping batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["DataStream"]


def _set_epoch(loader: Any, epoch: int) -> None:
    fn = getattr(loader, "set_epoch", None)
    if not callable(fn):
        fn = getattr(getattr(loader, "sampler", None), "set_epoch", None)
    if callable(fn):
        fn(epoch)


class DataStream:
    """Yields batches forever, advancing epochs; ``state_dict`` is the exact position.

    Args:
        loader: any re-iterable of batches (a ``DataLoader``, a ``StatefulDataLoader``, a list).
    """

    def __init__(self, loader: Iterable[Any]) -> None:
        self.loader = loader
        self.epoch = 0
        self.index = 0  # batches consumed in the current epoch
        self._it: Iterator[Any] | None = None
        self._skip = 0
        self._stateful = callable(getattr(loader, "state_dict", None)) and callable(
            getattr(loader, "load_state_dict", None)
        )

    def _start_epoch(self) -> None:
        _set_epoch(self.loader, self.epoch)
        self._it = iter(self.loader)
        skip, self._skip = self._skip, 0
        for n in range(skip):
            try:
                next(self._it)
            except StopIteration as exc:
                raise RuntimeError(
                    f"cannot resume the data position: the checkpoint consumed {skip} batches of "
                    f"epoch {self.epoch} but the loader ends after {n}; resume with the same "
                    "dataset, batch size and world size"
                ) from exc

    def next(self) -> Any:
        """The next batch, starting a new epoch when the current one is exhausted."""
        if self._it is None:
            self._start_epoch()
        try:
            batch = next(self._it)
        except StopIteration:
            self.epoch += 1
            self.index = 0
            self._start_epoch()
            try:
                batch = next(self._it)
            except StopIteration:
                raise RuntimeError(
                    "the training data loader yields no batch in a whole epoch; use a dataset "
                    "with at least batch_size * world_size samples (or drop_last=False)"
                ) from None
        self.index += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "index": self.index,
            "loader": self.loader.state_dict() if self._stateful else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the saved position on the next :meth:`next`."""
        self.epoch = int(state["epoch"])
        self.index = int(state["index"])
        self._it = None
        if self._stateful and state.get("loader") is not None:
            self.loader.load_state_dict(state["loader"])
            self._skip = 0
        else:
            self._skip = self.index
