"""Real media files for the data tests: mp4 clips (PyAV), PNG images, folder datasets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from cosmos_train.data.video_io import write_mp4

LEVEL = 12  # grey step per frame: frame k of a ramp clip is uniformly k * LEVEL


def ramp_clip(frames: int, height: int, width: int, tint: int = 0) -> torch.Tensor:
    """uint8 ``[3, T, H, W]``: frame ``k`` uniformly ``k * LEVEL``, a bright bar on the left."""
    levels = (torch.arange(frames) * LEVEL).to(torch.uint8)
    video = levels.view(1, frames, 1, 1).expand(3, frames, height, width).clone()
    video[0] = video[0].clamp(max=255 - tint) + tint
    video[:, :, :, : max(2, width // 8)] = 250
    return video


def make_folder(
    root: Path,
    sizes: Sequence[tuple[int, int]],
    *,
    frames: int = 13,
    text_dim: int = 6,
    text_tokens: int = 3,
    seed: int = 0,
) -> Path:
    """``videos/c<i>.mp4`` (sizes ``(H, W)``), ``metas/c<i>.txt``, ``emb/c<i>.pt`` embeddings."""
    gen = torch.Generator().manual_seed(seed)
    for i, (h, w) in enumerate(sizes):
        write_mp4(root / "videos" / f"c{i}.mp4", ramp_clip(frames, h, w, tint=i), fps=12.0)
        (root / "metas").mkdir(parents=True, exist_ok=True)
        (root / "metas" / f"c{i}.txt").write_text(f"clip number {i}\n")
        (root / "emb").mkdir(exist_ok=True)
        torch.save(torch.randn(text_tokens, text_dim, generator=gen), root / "emb" / f"c{i}.pt")
    return root


def write_png(path: Path, image: torch.Tensor) -> Path:
    """Encode uint8 ``[3, H, W]`` as a PNG with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    array = image.permute(1, 2, 0).contiguous().numpy()
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = image.shape[2], image.shape[1], "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
