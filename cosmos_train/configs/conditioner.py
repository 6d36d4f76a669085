"""``conditioner`` options (package ``model.config.conditioner``).

``video_prediction_conditioner`` (default): text (dropout 0.2 for classifier-free guidance), fps
and padding mask, as Cosmos's ``Video2WorldConditioner``. Cosmos's ``use_video_condition`` flag
(dropout 0.2 on the fps key there) maps to ``use_video_condition_dropout_rate``; the released 2.5
recipes train with it at 0, which is the value here. ``video_prediction_conditioner_v2`` is the
same conditioner (Cosmos's V2 only differs in internals).
"""

from __future__ import annotations

from lazycfg import L, lazy_imports, register

with lazy_imports():
    from cosmos_train.model.conditioner import Video2WorldConditioner

for _name in ("video_prediction_conditioner", "video_prediction_conditioner_v2"):
    register(
        "conditioner",
        _name,
        L(Video2WorldConditioner)(
            text_key="t5_text_embeddings",
            text_dropout_rate=0.2,
            use_video_condition_dropout_rate=0.0,
        ),
        package="model.config.conditioner",
    )
