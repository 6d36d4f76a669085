"""The contract between the trainer and a trainable model.

The trainer (``cosmos_train.trainer``) only talks to a model through :class:`TrainModel`;
``Video2WorldModel`` and the small test models both implement it. Nets are built through a
:data:`NetBuilder` handed in at construction time (``instantiate(cfg.model, device=...,
net_builder=...)``), so the trainer decides how a net is materialised (meta device, activation
checkpointing, per-block compile, FSDP2 sharding, identical init on every rank) while the model
decides what the net is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import torch
from torch import nn

from cosmos_train.optim.ema import PowerEMA, copy_params, swapped_weights

Batch = dict[str, Any]


class NetBuilder(Protocol):
    """Turns a zero-argument net factory into a ready, initialised net on the right device.

    Args:
        make_net: builds the net (the builder may call it under ``torch.device("meta")``).
        role: ``"net"`` or ``"net_ema"``; an EMA net is frozen (no grad) and kept in fp32.

    The returned module has its weights initialised identically on every rank (``init_weights()``
    on the full module, before sharding where DTensor random init is unavailable). Builders that
    take ``prepare`` call it on the initialised, unsharded net (under the init seed) before
    activation checkpointing, compile and sharding: a LoRA net loads its base and gets its
    adapters there.
    """

    def __call__(self, make_net: Callable[[], nn.Module], *, role: str) -> nn.Module: ...


def default_net_builder(device: torch.device | str = "cpu") -> NetBuilder:
    """A single-process builder: build on ``device``, call ``init_weights()`` if the net has it."""

    def build(
        make_net: Callable[[], nn.Module],
        *,
        role: str,
        prepare: Callable[[nn.Module], nn.Module] | None = None,
    ) -> nn.Module:
        with torch.device(device):
            net = make_net()
        init = getattr(net, "init_weights", None)
        if callable(init):
            with torch.no_grad():
                init()
        if prepare is not None:
            net = prepare(net)
        if role == "net_ema":
            net.requires_grad_(False)
            net.float()
        return net

    return build


class TrainModel(nn.Module):
    """What the trainer needs from a model. Subclasses override the methods marked abstract.

    Iteration numbers follow Cosmos: ``training_step`` and ``on_before_zero_grad`` receive the
    pre-increment (0-based) iteration of the optimizer step being computed.
    """

    #: The trainable net (``nn.Module``); the trainer clips its gradients and shards it.
    net: nn.Module
    #: The power EMA driving ``net_ema``, or ``None`` when EMA is disabled (set by
    #: :meth:`_build_ema`).
    ema: PowerEMA | None = None
    #: The LoRA setup (:class:`cosmos_train.model.lora.LoraSetup`) of a LoRA run, else ``None``.
    lora: Any = None

    # ``net_ema`` is a property, not a class attribute: a class-level ``None`` would shadow
    # nn.Module's lookup of the registered submodule (``__getattr__`` only runs when normal
    # lookup fails). Assigning a module still registers it through ``nn.Module.__setattr__``.
    @property
    def net_ema(self) -> nn.Module | None:
        """The EMA copy of ``net`` in fp32, or ``None`` when EMA is disabled."""
        return self._modules.get("net_ema")

    def _build_ema(
        self, builder: NetBuilder, make_net: Callable[[], nn.Module], ema: PowerEMA | None
    ) -> None:
        """Builds ``net_ema`` (frozen, fp32, equal to ``net``) and keeps ``ema``; nothing when
        ``ema`` is None.

        Call after ``self.net`` exists; ``make_net`` is the factory that built it.
        """
        self.ema = ema
        if ema is None:
            return
        net_ema = builder(make_net, role="net_ema")
        net_ema.requires_grad_(False)
        self.net_ema = net_ema.float()
        copy_params(self.net, self.net_ema)

    def training_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        """Forward pass of one micro-batch; returns ``(outputs, loss)`` with a scalar ``loss``.

        The loss is the mean over the micro-batch; the trainer divides it by the number of
        accumulation steps. Randomness must be drawn per sample from
        ``(seed, iteration, batch["sample_idx"][i])`` so that splitting a batch across ranks or
        micro-batches does not change the draws.
        """
        raise NotImplementedError

    @torch.no_grad()
    def validation_step(self, batch: Batch, iteration: int) -> tuple[dict[str, Any], torch.Tensor]:
        """Deterministic loss: fixed diffusion time and noise per validation sample."""
        raise NotImplementedError

    def on_train_start(self, memory_format: torch.memory_format = torch.preserve_format) -> None:
        """Called once before the optimizer is built: keeps ``net_ema`` in fp32 (Cosmos casts it
        here too)."""
        if self.net_ema is not None:
            self.net_ema.float()

    def on_before_zero_grad(
        self, optimizer: torch.optim.Optimizer, scheduler: Any, iteration: int
    ) -> None:
        """Called after ``optimizer.step()`` and ``scheduler.step()``: the power-EMA update with the
        pre-increment iteration (the first update copies the net)."""
        if self.ema is not None and self.net_ema is not None:
            self.ema.update(self.net, self.net_ema, iteration)

    # ---- checkpoint hooks (used by cosmos_train.checkpoint.dcp) ---------------------------------
    def frozen_state_keys(self, state_keys: Iterable[str]) -> frozenset[str]:
        """The model state_dict entries checkpoints leave out (a LoRA run's base: it is reloaded
        from its reference); empty for full fine-tuning."""
        return self.lora.frozen_state_keys(state_keys) if self.lora is not None else frozenset()

    def checkpoint_metadata(self) -> dict[str, Any]:
        """JSON-able facts a checkpoint records next to the weights (a LoRA run: its base
        reference)."""
        return self.lora.checkpoint_metadata() if self.lora is not None else {}

    def verify_checkpoint_metadata(self, metadata: dict[str, Any], path: Any) -> None:
        """Refuses a checkpoint this model cannot continue (a LoRA run: another base)."""
        if self.lora is not None:
            self.lora.verify_checkpoint_metadata(metadata, path)

    def optimizer_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named trainable parameters handed to the optimizer builder (``params=``)."""
        return [(n, p) for n, p in self.net.named_parameters() if p.requires_grad]

    @contextlib.contextmanager
    def ema_scope(self, enabled: bool = True) -> Iterator[None]:
        """Runs the block with the EMA weights in ``net``; restores the regular weights after
        (a no-op without EMA or when ``enabled`` is False)."""
        if not enabled or self.net_ema is None:
            yield
            return
        with swapped_weights(self.net, self.net_ema):
            yield

    def flops_per_sample(self, batch: Batch) -> float:
        """Model training FLOPs (fwd + bwd, attention included) for one sample of ``batch``; 0 if
        unknown."""
        return 0.0

    def tokens_per_sample(self, batch: Batch) -> int:
        """Tokens the net sees per sample (for tokens/s); 0 if not meaningful."""
        return 0

    @torch.no_grad()
    def generate_samples(
        self, batch: Batch, *, num_steps: int = 35, guidance: float = 0.0, seed: int = 0
    ) -> torch.Tensor:
        """Sample videos conditioned like ``batch``; returns uint8 ``[B, 3, T, H, W]`` on CPU."""
        raise NotImplementedError(f"{type(self).__name__} cannot generate samples")
