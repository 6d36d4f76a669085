"""mp4 helpers on PyAV: write uint8 videos, count frames, decode a window of frames.

:func:`decode_window` is the one decoder every video source uses (folder, tar shards, images as
one-frame clips): the source is a path or a file-like object (bytes read from a tar shard).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import torch
import torch.nn.functional as F

from cosmos_train.data.buckets import padding_mask_from_size

__all__ = [
    "ClipUnusable",
    "count_frames",
    "count_packets",
    "decode_window",
    "probe_size",
    "write_mp4",
]

#: A decodable source: a file path or a seekable binary file object.
Source = Union[str, Path, IO[bytes]]
_DEFAULT_FPS = 16.0  # Cosmos's fallback when the container reports no rate


class ClipUnusable(Exception):
    """A clip that cannot serve a request (too short, undecodable): the caller may try another."""


def write_mp4(
    path: str | Path,
    video: torch.Tensor,
    *,
    fps: float = 24.0,
    codec: str = "mpeg4",
    quality: int = 2,
    pad_odd: bool = False,
) -> Path:
    """Encode ``video`` uint8 ``[3, T, H, W]`` (RGB) to ``path``; returns the path.

    The file is written next to ``path`` and renamed into place, so a reader (or a crash) never
    sees a half-written video.

    Args:
        path: output ``.mp4`` file; parent folders are created.
        video: uint8 tensor ``[3, T, H, W]``; ``H`` and ``W`` must be even (yuv420p) unless
            ``pad_odd``.
        fps: frame rate stored in the container.
        codec: FFmpeg encoder name (``mpeg4`` is always built into PyAV; ``libx264`` usually is).
        quality: ``mpeg4`` quantiser 1 (best) .. 31, or the x264 CRF for ``libx264``.
        pad_odd: pad an odd height or width by one replicated edge row/column instead of raising.
    """
    import av

    if video.dtype != torch.uint8 or video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(
            f"video must be uint8 [3, T, H, W], got {video.dtype} {tuple(video.shape)}"
        )
    _, frames, height, width = video.shape
    if height % 2 or width % 2:
        if not pad_odd:
            raise ValueError(
                f"height and width must be even for yuv420p mp4, got {height}x{width}; "
                "crop the video or pass pad_odd=True"
            )
        # replicate-padding needs a float tensor; uint8 values survive the round trip exactly.
        padded = F.pad(
            video.float().unsqueeze(0), (0, width % 2, 0, height % 2, 0, 0), mode="replicate"
        )
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


def count_packets(path: Source) -> int:
    """Video packets of the first stream (one per frame), for containers that store no frame
    count."""
    import av

    with av.open(_rewound(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def _rewound(source: Source) -> Any:
    """``str`` of a path, or the file object moved back to its start (PyAV reads from there)."""
    if isinstance(source, (str, Path)):
        return str(source)
    source.seek(0)
    return source


def _second_view(source: Source) -> Source:
    """A source that can be read while ``source`` is open (a copy of a file object's bytes)."""
    if isinstance(source, (str, Path)):
        return source
    pos = source.tell()
    source.seek(0)
    data = source.read()
    source.seek(pos)
    return io.BytesIO(data)


def probe_size(source: Source) -> tuple[int, int]:
    """``(height, width)`` of the first video stream (or image) without decoding frames."""
    import av

    try:
        with av.open(_rewound(source)) as container:
            if not container.streams.video:
                raise ClipUnusable("no video stream")
            ctx = container.streams.video[0].codec_context
            return int(ctx.height), int(ctx.width)
    except av.error.FFmpegError as err:
        raise ClipUnusable(f"cannot open: {err}") from err


FrameFn = Callable[[Any], np.ndarray]


def decode_window(
    source: Source,
    num_frames: int,
    *,
    to_array: FrameFn,
    start: str | int = "first",
    rng: np.random.Generator | None = None,
) -> tuple[torch.Tensor, int, int, float]:
    """Decode ``num_frames`` consecutive frames: ``(video u8 [3,T,H,W], start, total, fps)``.

    Args:
        source: a path or a binary file object (an mp4, or an image as a one-frame clip).
        num_frames: frames ``T`` to return.
        to_array: turns one ``av.VideoFrame`` into uint8 ``[H, W, 3]`` (the resize policy).
        start: ``"first"``, ``"random"`` (drawn from ``rng`` in ``[0, total - T]``) or a frame
            index.
        rng: the generator of a random start.

    Raises:
        ClipUnusable: too few frames, or the file cannot be decoded.
    """
    import av

    t = int(num_frames)
    try:
        with av.open(_rewound(source)) as container:
            if not container.streams.video:
                raise ClipUnusable("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else _DEFAULT_FPS
            total = stream.frames or (count_packets(_second_view(source)) if t > 1 else 1)
            if total < t:
                raise ClipUnusable(f"has {total} frames, fewer than num_frames={t}")
            if start == "first":
                first = 0
            elif start == "random":
                first = int((rng or np.random.default_rng()).integers(0, total - t + 1))
            else:
                first = int(start)
            frames = []
            for k, frame in enumerate(container.decode(stream)):
                if k >= first:
                    frames.append(to_array(frame))
                    if len(frames) == t:
                        break
    except av.error.FFmpegError as err:
        raise ClipUnusable(f"cannot decode: {err}") from err
    if len(frames) < t:
        raise ClipUnusable(
            f"the container reports {total} frames but only "
            f"{first + len(frames)} decode; needs {first + t}"
        )
    video = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).contiguous()
    return video, first, total, fps


def frame_resizer(size: Sequence[int], resize: str) -> FrameFn:
    """The ``to_array`` of :func:`decode_window` for an output ``(height, width)``.

    ``"stretch"``: scale to ``size`` (Cosmos's local folder behaviour). ``"center_crop"``: scale
    to cover ``size`` and crop the middle (aspect kept). ``"fit"``: scale the largest side to fit
    inside ``size`` with the aspect kept (Cosmos's ``ResizeLargestSideAspectPreserving``, rounded
    like it); pad the result with :func:`pad_to` afterwards. FFmpeg's swscale does the scaling
    (bilinear, area-aware when shrinking).
    """
    h, w = int(size[0]), int(size[1])
    if resize == "stretch":
        return lambda frame: frame.to_ndarray(
            format="rgb24", width=w, height=h, interpolation="BILINEAR"
        )
    if resize == "fit":

        def fit(frame: Any) -> np.ndarray:
            fh, fw = fit_size(frame.height, frame.width, (h, w))
            return frame.to_ndarray(format="rgb24", width=fw, height=fh, interpolation="BILINEAR")

        return fit
    if resize != "center_crop":
        raise ValueError(f"resize must be 'stretch', 'center_crop' or 'fit', got {resize!r}")

    def crop(frame: Any) -> np.ndarray:
        scale = max(h / frame.height, w / frame.width)
        sh, sw = max(h, round(frame.height * scale)), max(w, round(frame.width * scale))
        arr = frame.to_ndarray(format="rgb24", width=sw, height=sh, interpolation="BILINEAR")
        top, left = (sh - h) // 2, (sw - w) // 2
        return np.ascontiguousarray(arr[top : top + h, left : left + w])

    return crop


def fit_size(height: int, width: int, target: Sequence[int]) -> tuple[int, int]:
    """Largest aspect-preserving size inside ``target`` ``(h, w)``, rounded as Cosmos rounds."""
    th, tw = int(target[0]), int(target[1])
    scale = min(tw / width, th / height)
    return min(th, int(scale * height + 0.5)), min(tw, int(scale * width + 0.5))


def pad_to(video: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre-pad ``video`` ``[3,T,h,w]`` to ``size`` as Cosmos's ``ReflectionPadding`` does.

    Reflection padding, or edge padding when a pad is as large as the frame; the left/top pad is
    the smaller half. Returns the padded video (same dtype) and the padding mask ``[1, H, W]``
    float32: 1 on padded pixels, 0 on the frame.
    """
    th, tw = int(size[0]), int(size[1])
    h, w = video.shape[-2:]
    left, top = (tw - w) // 2, (th - h) // 2
    pads = (left, tw - w - left, top, th - h - top)
    if any(p < 0 for p in pads):
        raise ValueError(f"cannot pad a {h}x{w} frame to {th}x{tw}")
    mask = padding_mask_from_size(torch.tensor([th, tw, h, w]))
    if not any(pads):
        return video, mask
    mode = "replicate" if max(pads[0], pads[1]) >= w or max(pads[2], pads[3]) >= h else "reflect"
    # F.pad pads the last dims of a float batch; uint8 values survive the float round trip exactly.
    padded = F.pad(video.float(), pads, mode=mode)
    return padded.to(video.dtype), mask
