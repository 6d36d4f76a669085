"""Released weights by name: a small catalogue and ``hf://`` specs, resolved through the hub cache.

A weights *spec* is one of:

* a catalogue name (:data:`CATALOGUE`, e.g. ``nvidia/Cosmos-Predict2.5-2B/base/post-trained``),
  taken from Cosmos's ``checkpoint_db.py`` (cosmos-predict2.5 @ 50369b8) with its repository,
  revision and file;
* ``hf://ORG/REPO/PATH/IN/REPO[@REV]`` (one file) or ``hf://ORG/REPO[@REV]`` (the whole repository
  snapshot, e.g. a text encoder folder); ``REV`` defaults to ``main``;
* a local file or folder.

:func:`resolve_weights` returns a local path. Hub files go through ``huggingface_hub``'s cache,
read at call time: ``HF_HUB_CACHE`` or ``$HF_HOME/hub`` (default ``~/.cache/huggingface/hub``).
With ``HF_HUB_OFFLINE=1`` nothing is downloaded; a file that is not cached is a
:class:`WeightsNotFoundError` saying which command downloads it and where it lands.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

__all__ = [
    "CATALOGUE",
    "HubWeights",
    "WeightsNotFoundError",
    "hub_cache_dir",
    "hub_offline",
    "is_released_spec",
    "parse_weights_spec",
    "resolve_weights",
]

log = logging.getLogger(__name__)

_HF_PREFIX = "hf://"
_TRUE = {"1", "true", "yes", "on"}


class WeightsNotFoundError(FileNotFoundError):
    """A weights spec that cannot be turned into a local path; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class HubWeights:
    """One file (``filename``) or a whole snapshot (``filename=None``) of a hub repository.

    Attributes:
        repo_id: ``ORG/REPO``.
        revision: branch, tag or commit.
        filename: path inside the repository; ``None`` for the whole snapshot.
        ignore: glob patterns left out of a snapshot download.
        what: what the weights are, for messages.
    """

    repo_id: str
    revision: str = "main"
    filename: str | None = None
    ignore: tuple[str, ...] = ()
    what: str = ""

    @property
    def spec(self) -> str:
        """The equivalent ``hf://`` spec."""
        path = self.repo_id + (f"/{self.filename}" if self.filename else "")
        return f"{_HF_PREFIX}{path}@{self.revision}"


_REASON1 = HubWeights(
    "nvidia/Cosmos-Reason1-7B",
    "3210bec0495fdc7a8d3dbb8d58da5711eab4b423",
    what="Cosmos-Reason1 7B text encoder and Qwen2.5-VL tokenizer (folder)",
)

#: Cosmos's names (checkpoint_db.py) -> where the files are. UUIDs are accepted as aliases.
#: Not in Cosmos's database at this commit: a Predict2.5 14B *post-trained* net.
CATALOGUE: dict[str, HubWeights] = {
    "nvidia/Cosmos-Predict2.5-2B/base/pre-trained": HubWeights(
        "nvidia/Cosmos-Predict2.5-2B",
        "main",
        "base/pre-trained/d20b7120-df3e-4911-919d-db6e08bad31c_ema_bf16.pt",
        what="Predict2.5 2B pre-trained net (EMA, bf16)",
    ),
    "nvidia/Cosmos-Predict2.5-2B/base/post-trained": HubWeights(
        "nvidia/Cosmos-Predict2.5-2B",
        "main",
        "base/post-trained/81edfebe-bd6a-4039-8c1d-737df1a790bf_ema_bf16.pt",
        what="Predict2.5 2B post-trained net (EMA, bf16)",
    ),
    "nvidia/Cosmos-Predict2.5-14B/base/pre-trained": HubWeights(
        "nvidia/Cosmos-Predict2.5-14B",
        "main",
        "base/pre-trained/54937b8c-29de-4f04-862c-e67b04ec41e8_ema_bf16.pt",
        what="Predict2.5 14B pre-trained net (EMA, bf16)",
    ),
    "Wan2.1/vae": HubWeights(
        "nvidia/Cosmos-Predict2.5-2B",
        "6787e176dce74a101d922174a95dba29fa5f0c55",
        "tokenizer.pth",
        what="Wan2.1 VAE",
    ),
    "nvidia/Cosmos-Reason1.1-7B": _REASON1,
    "Qwen/Qwen2.5-VL-7B-Instruct": dataclasses.replace(
        _REASON1, what="Qwen2.5-VL tokenizer (folder)"
    ),
    "google-t5/t5-11b": HubWeights(
        "google-t5/t5-11b",
        "90f37703b3334dfe9d2b009bfcbfbf1ac9d28ea3",
        ignore=("tf_model.h5",),
        what="T5-11B text encoder (folder)",
    ),
}
_UUIDS = {
    "d20b7120-df3e-4911-919d-db6e08bad31c": "nvidia/Cosmos-Predict2.5-2B/base/pre-trained",
    "81edfebe-bd6a-4039-8c1d-737df1a790bf": "nvidia/Cosmos-Predict2.5-2B/base/post-trained",
    "54937b8c-29de-4f04-862c-e67b04ec41e8": "nvidia/Cosmos-Predict2.5-14B/base/pre-trained",
    "685afcaa-4de2-42fe-b7b9-69f7a2dee4d8": "Wan2.1/vae",
    "cb3e3ffa-7b08-4c34-822d-61c7aa31a14f": "nvidia/Cosmos-Reason1.1-7B",
    "7219c6c7-f878-4137-bbdb-76842ea85e70": "Qwen/Qwen2.5-VL-7B-Instruct",
    "4dbf13c6-1d30-4b02-99d6-75780dd8b744": "google-t5/t5-11b",
}


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (read now, not at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_cache_dir() -> Path:
    """The hub cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache", "huggingface"
    )
    return Path(home).expanduser() / "hub"


def parse_weights_spec(spec: str) -> HubWeights | None:
    """The hub location of a catalogue name, UUID or ``hf://`` spec; ``None`` for anything else."""
    spec = str(spec).strip()
    name = _UUIDS.get(spec, spec)
    if name in CATALOGUE:
        return CATALOGUE[name]
    if not spec.startswith(_HF_PREFIX):
        return None
    body, _, revision = spec[len(_HF_PREFIX) :].partition("@")
    parts = [p for p in body.split("/") if p]
    if len(parts) < 2 or (revision == "" and "@" in spec):
        raise ValueError(
            f"{spec!r} is not a valid hub spec; write hf://ORG/REPO/PATH/IN/REPO[@REVISION] for "
            "a file "
            "or hf://ORG/REPO[@REVISION] for a whole repository"
        )
    filename = "/".join(parts[2:]) or None
    return HubWeights(f"{parts[0]}/{parts[1]}", revision or "main", filename)


def is_released_spec(spec: str | None) -> bool:
    """Whether ``spec`` names released weights: a catalogue name, ``hf://`` spec or ``.pt`` file.

    A DCP ``iter_*`` directory of one of our runs is not "released".
    """
    if not spec:
        return False
    try:
        if parse_weights_spec(spec) is not None:
            return True
    except ValueError:
        return True  # a malformed hf:// spec still means the user wanted released weights
    return str(spec).endswith((".pt", ".pth", ".safetensors"))


def resolve_weights(spec: str | os.PathLike, *, what: str = "weights") -> Path:
    """A local path for a weights spec (catalogue name, ``hf://...``, or local path).

    Args:
        spec: the spec (see the module docstring).
        what: the config key that holds it (``checkpoint.load_path``), for error messages.

    Raises:
        WeightsNotFoundError: a local path that does not exist, or hub weights that are not cached
            while offline (or cannot be downloaded); the message says what to download and where.
    """
    text = str(spec).strip()
    try:
        hub = parse_weights_spec(text)
    except ValueError as err:
        raise WeightsNotFoundError(f"{what}={text!r}: {err}") from None
    if hub is None:
        path = Path(text).expanduser()
        if not path.exists():
            names = ", ".join(CATALOGUE)
            raise WeightsNotFoundError(
                f"{what}={text!r} is neither an existing file or folder, nor a catalogue name, "
                "nor an "
                f"hf://ORG/REPO/FILE[@REV] spec. Catalogue names: {names}"
            )
        return path
    return _from_hub(hub, text, what)


def _download_hint(hub: HubWeights, cache: Path) -> str:
    repo_dir = cache / ("models--" + hub.repo_id.replace("/", "--"))
    target = f"{repo_dir}/snapshots/<commit of {hub.revision}>/" + (hub.filename or "")
    file_arg = f" {hub.filename}" if hub.filename else ""
    excludes = "".join(f" --exclude '{p}'" for p in hub.ignore)
    return (
        f"download it with network access: `HF_HOME={cache.parent} hf download "
        f"{hub.repo_id}{file_arg} "
        f"--revision {hub.revision}{excludes}` (it lands in {target}; the same "
        "HF_HOME/HF_HUB_CACHE must be "
        "set for this run), or download it anywhere and set the config key to that local path"
    )


def _from_hub(hub: HubWeights, spec: str, what: str) -> Path:
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as err:
        raise WeightsNotFoundError(
            f"{what}={spec!r} names hub weights, which need the optional huggingface_hub package: "
            "pip install 'lazycfg-cosmos-train[hub]' (or set the key to a local path)"
        ) from err
    cache, offline = hub_cache_dir(), hub_offline()
    kwargs = dict(
        repo_id=hub.repo_id, revision=hub.revision, cache_dir=str(cache), local_files_only=offline
    )
    try:
        if hub.filename is None:
            path = huggingface_hub.snapshot_download(
                **kwargs, ignore_patterns=list(hub.ignore) or None
            )
        else:
            path = huggingface_hub.hf_hub_download(filename=hub.filename, **kwargs)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        state = (
            f"HF_HUB_OFFLINE is set and it is not in the hub cache {cache}"
            if offline
            else f"it is not in the hub cache {cache} and could not be fetched "
            f"({type(err).__name__})"
        )
        label = f" ({hub.what})" if hub.what else ""
        raise WeightsNotFoundError(
            f"{what}={spec!r}{label}: {hub.spec} is not available: {state}. "
            + _download_hint(hub, cache)
        ) from None
    log.info("%s=%s -> %s", what, spec, path)
    return Path(path)
