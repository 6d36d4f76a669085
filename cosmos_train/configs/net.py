"""``net`` options (package ``model.config.net``): the DiT sizes of Cosmos's ``defaults/net.py``.

Each option is ``L(MiniTrainDiT)(**kwargs)`` with every preset value written out, so
``model.config.net.num_blocks=2`` edits a visible value and ``--dryrun`` shows the whole net.
The kwargs come from :mod:`cosmos_train.nets.preset_values`, which does not import torch, so
``lazycfg show`` of an experiment stays torch-free and the sizes exist in one place.

Options: ``cosmos_v1_2B``, ``cosmos_v1_7B``, ``cosmos_v1_14B``, ``mini_net`` (Cosmos),
``predict2_5_2B`` and ``predict2_5_14B`` (the released Predict2.5 video2world nets: Reason1 text
projection 100352 -> 1024, timestep scale 1e-3, RoPE h/w 3.0, fps modulation off, fp32
modulation), ``tiny`` (the CPU test net, 175,808 parameters).
"""

from __future__ import annotations

from typing import Any

from cosmos_train.nets.preset_values import PREDICT2_5_CHANGES, PRESETS  # noqa: F401  (re-exported)
from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.nets.dit import MiniTrainDiT

#: Every preset's kwargs (the sizes live once, in the torch-free
#: :mod:`cosmos_train.nets.preset_values`).
NET_KWARGS: dict[str, dict[str, Any]] = {name: dict(kwargs) for name, kwargs in PRESETS.items()}

for _name, _kwargs in NET_KWARGS.items():
    register("net", _name, L(MiniTrainDiT)(**_kwargs), package="model.config.net")
