"""mp4 helpers on PyAV: write uint8 videos (samples, tests, dataset preparation) and count frames."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["count_frames", "count_packets", "write_mp4"]


def write_mp4(path: str | Path, video: torch.Tensor, *, fps: float = 24.0,
              codec: str = "mpeg4", quality: int = 2, pad_odd: bool = False) -> Path:
    """Encode ``video`` uint8 ``[3, T, H, W]`` (RGB) to ``path``; returns the path.

    The file is written next to ``path`` and renamed into place, so a reader (or a crash) never
    sees a half-written video.

    Args:
        path: output ``.mp4`` file; parent folders are created.
        video: uint8 tensor ``[3, T, H, W]``; ``H`` and ``W`` must be even (yuv420p) unless ``pad_odd``.
        fps: frame rate stored in the container.
        codec: FFmpeg encoder name (``mpeg4`` is always built into PyAV; ``libx264`` usually is).
        quality: ``mpeg4`` quantiser 1 (best) .. 31, or the x264 CRF for ``libx264``.
        pad_odd: pad an odd height or width by one replicated edge row/column instead of raising.
    """
    import av

    if video.dtype != torch.uint8 or video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be uint8 [3, T, H, W], got {video.dtype} {tuple(video.shape)}")
    _, frames, height, width = video.shape
    if height % 2 or width % 2:
        if not pad_odd:
            raise ValueError(f"height and width must be even for yuv420p mp4, got {height}x{width}; "
                             "crop the video or pass pad_odd=True")
        # replicate-padding needs a float tensor; uint8 values survive the round trip exactly.
        padded = F.pad(video.float().unsqueeze(0), (0, width % 2, 0, height % 2, 0, 0), mode="replicate")
        video = padded[0].to(torch.uint8)
        height, width = video.shape[-2:]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if codec == "mpeg4":
                # Pin the quantiser (qmin = qmax) so small clips are not starved of bits.
                stream.options = {"qmin": str(quality), "qmax": str(quality), "bf": "0"}
                stream.bit_rate = 50_000_000
            elif codec in ("libx264", "h264"):
                stream.options = {"crf": str(quality)}
            array = video.cpu().permute(1, 2, 3, 0).contiguous().numpy()  # [T, H, W, 3]
            for k in range(frames):
                frame = av.VideoFrame.from_ndarray(array[k], format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def count_frames(path: str | Path) -> int:
    """Frames of the first video stream without decoding: the container's count, else its packets.

    Raises:
        ValueError: the file has no video stream.
        av.error.FFmpegError: the file cannot be opened.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        return container.streams.video[0].frames or count_packets(path)


def count_packets(path: str | Path) -> int:
    """Video packets of the first stream (one per frame), for containers that store no frame count."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)
