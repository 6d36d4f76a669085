"""``ema`` options (package ``model.config.ema``): the model's EMA settings.

``power`` (default): the power EMA of EDM2 with ``rate`` = s = 0.1 (Cosmos's ``PowerEMAConfig``).
"""

from __future__ import annotations

from cosmos_train.model.config import EMAConfig
from lazycfg import register

register(
    "ema", "power", EMAConfig(enabled=True, rate=0.1, iteration_shift=0), package="model.config.ema"
)
