"""``checkpoint`` options (package ``checkpoint``) and ``ckpt_type`` options (package ``checkpoint.type``).

``checkpoint``:

* ``local`` (default): checkpoints under ``<job dir>/checkpoints`` every 1000 iterations.
* ``s3``, ``pbss``, ``gcp``: Cosmos's object-store variants. They enable the object store with the
  credentials file Cosmos uses; object-store checkpoints are not implemented here, so
  ``Config.validate`` refuses them and says to use ``checkpoint=local``.

``ckpt_type``: ``dcp`` (default; ``torch.distributed.checkpoint`` in Cosmos's layout, exact
resume) or ``disabled`` (no checkpoints at all; the launcher logs a warning). Cosmos's ``dummy``
is an alias of ``disabled``; ``~ckpt_type`` on the command line does the same. (There is no
option called ``none``: ``ckpt_type=none`` would parse as null.) Select ``ckpt_type`` after ``checkpoint``: selecting ``checkpoint``
replaces the whole section, ``type`` included.
"""

from __future__ import annotations

from lazycfg import PLACEHOLDER, L, lazy_imports, register

from cosmos_train.config import CheckpointConfig, ObjectStoreConfig

with lazy_imports():
    from cosmos_train.checkpoint.dcp import DCPCheckpointer

register("checkpoint", "local", CheckpointConfig(save_iter=1000))

for _name, _bucket in (("s3", "bucket"), ("pbss", "checkpoints"), ("gcp", "bucket")):
    register(
        "checkpoint",
        _name,
        CheckpointConfig(
            save_iter=1000,
            save_to_object_store=ObjectStoreConfig(
                enabled=True, credentials=f"credentials/{_name}_checkpoint.secret", bucket=_bucket
            ),
            load_from_object_store=ObjectStoreConfig(
                enabled=True, credentials=f"credentials/{_name}_checkpoint.secret", bucket=_bucket
            ),
        ),
    )

register(
    "ckpt_type",
    "dcp",
    # Everything else comes from the checkpoint section at build time (cosmos_train.launch).
    L(DCPCheckpointer)(job_dir=PLACEHOLDER),
    package="checkpoint.type",
)
register("ckpt_type", "disabled", None, package="checkpoint.type")
register("ckpt_type", "dummy", None, package="checkpoint.type")
