"""write_png: a PNG that a real decoder (FFmpeg through PyAV) reads back pixel for pixel."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from cosmos_train.utils.png import write_png


def test_png_round_trips_through_ffmpeg(tmp_path):
    image = torch.randint(0, 256, (3, 7, 11), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    path = write_png(tmp_path / "sub" / "x.png", image)
    with av.open(str(path)) as container:
        (frame,) = list(container.decode(video=0))
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), image.permute(1, 2, 0).numpy())
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_png_rejects_other_layouts(tmp_path):
    with pytest.raises(ValueError, match=r"uint8 \[3, H, W\]"):
        write_png(tmp_path / "x.png", torch.zeros(7, 11, 3, dtype=torch.uint8))
