"""Joint image + video training: batches from several loaders interleaved by a fixed ratio.

As Cosmos's ``IterativeJointDataLoader``: with ratios ``{"image_data": 1, "video_data": 1}`` the
batches alternate image, video, image, ... (ratio ``a:b`` gives ``a`` batches of the first loader,
then ``b`` of the second, repeating). Each batch gets ``dataset_name``. The interleaving depends
only on the global batch count, so every rank draws the same kind of batch at the same step
(one shape per step for FSDP and ``torch.compile``).

Unlike Cosmos's loader, the position is saved and restored exactly: ``state_dict`` holds the
global batch count and every sub-loader's own state (epochs advance per sub-loader).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["JointDataLoader"]


class JointDataLoader:
    """Endless interleaving of named loaders by integer ratios.

    Args:
        loaders: ``{name: loader}``; each a re-iterable (a ``StatefulDataLoader`` resumes exactly).
        ratios: ``{name: batches per cycle}`` for the same names (Cosmos's image:video is 1:1).
    """

    def __init__(self, *, loaders: Mapping[str, Any], ratios: Mapping[str, int]) -> None:
        if set(loaders) != set(ratios) or not loaders:
            raise ValueError(
                f"loaders {sorted(loaders)} and ratios {sorted(ratios)} must name the same, "
                "non-empty set of sources"
            )
        bad = {k: v for k, v in ratios.items() if not isinstance(v, int) or v < 0}
        if bad or sum(ratios.values()) == 0:
            raise ValueError(f"ratios must be non-negative ints, not all zero; got {dict(ratios)}")
        self.names = list(loaders)
        self.loaders = dict(loaders)
        self.ratios = {k: int(ratios[k]) for k in self.names}
        self.cycle = [name for name in self.names for _ in range(self.ratios[name])]
        self.global_id = 0
        self._iters: dict[str, Iterator[Any]] = {}

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders.values())

    def set_epoch(self, epoch: int) -> None:
        """No-op: every sub-loader advances its own epochs when it runs out."""

    def _next(self, name: str) -> Any:
        it = self._iters.get(name)
        if it is not None:
            try:
                return next(it)
            except StopIteration:
                pass
        for _ in range(2):  # a fresh iteration (the loader moved to its next epoch)
            self._iters[name] = iter(self.loaders[name])
            try:
                return next(self._iters[name])
            except StopIteration:
                continue
        raise RuntimeError(f"joint data loader: {name!r} yields no batch in a whole epoch")

    def __iter__(self) -> Iterator[Any]:
        while True:
            name = self.cycle[self.global_id % len(self.cycle)]
            batch = self._next(name)
            self.global_id += 1
            if isinstance(batch, dict):
                batch["dataset_name"] = name
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {
            "global_id": self.global_id,
            "loaders": {
                k: (v.state_dict() if callable(getattr(v, "state_dict", None)) else None)
                for k, v in self.loaders.items()
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.global_id = int(state["global_id"])
        self._iters = {}
        for name, sub in state.get("loaders", {}).items():
            if name not in self.loaders:
                raise ValueError(
                    f"joint loader state has source {name!r}, this loader has {self.names}"
                )
            if sub is not None:
                self.loaders[name].load_state_dict(sub)
