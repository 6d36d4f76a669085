"""write_mp4: round trip through PyAV, odd sizes, atomic writes, bad input."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from cosmos_train.data.video_io import write_mp4


def _read(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate)


def _gradient(frames: int, h: int, w: int) -> torch.Tensor:
    y = torch.linspace(0, 200, h).view(1, 1, h, 1)
    x = torch.linspace(0, 40, w).view(1, 1, 1, w)
    t = torch.arange(frames).view(1, frames, 1, 1) * 5
    return (y + x + t).expand(3, frames, h, w).round().to(torch.uint8)


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_round_trip(tmp_path: Path, codec: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV built without {codec}")
    video = _gradient(6, 32, 48)
    path = write_mp4(tmp_path / "sub" / "v.mp4", video, fps=12.0, codec=codec)
    frames, fps = _read(path)
    assert frames.shape == (6, 32, 48, 3) and fps == 12.0
    assert np.abs(frames.astype(np.float32) - video.permute(1, 2, 3, 0).numpy()).mean() < 3.0
    assert [p.name for p in path.parent.iterdir()] == ["v.mp4"]  # no temp file left behind


def test_odd_sizes_raise_or_pad(tmp_path: Path) -> None:
    video = _gradient(3, 17, 30)
    with pytest.raises(
        ValueError, match=r"must be even .* got 17x30; crop the video or pass pad_odd=True"
    ):
        write_mp4(tmp_path / "v.mp4", video)
    assert not list(tmp_path.iterdir())
    frames, _ = _read(write_mp4(tmp_path / "v.mp4", video, pad_odd=True))
    assert frames.shape == (3, 18, 30, 3)
    # The added row repeats the last one.
    assert np.abs(frames[:, 17].astype(int) - frames[:, 16].astype(int)).mean() < 3.0


@pytest.mark.parametrize(
    "video",
    [
        torch.zeros(3, 2, 8, 8),
        torch.zeros(4, 2, 8, 8, dtype=torch.uint8),
        torch.zeros(2, 8, 8, dtype=torch.uint8),
    ],
    ids=["float", "four-channels", "no-time-axis"],
)
def test_bad_video_is_a_clear_error(tmp_path: Path, video: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"video must be uint8 \[3, T, H, W\]"):
        write_mp4(tmp_path / "v.mp4", video)
