"""tools/cache_latents.py: clips to a latent cache; a mismatching rerun is one error line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cosmos_train.data.latent_cache import LatentCacheDataset
from tests.cosmos_train.data.media import make_folder
from tests.cosmos_train.data.test_latent_cache import video_overrides

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "cache_latents.py"
spec = importlib.util.spec_from_file_location("cache_latents", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_cache_then_refuse_another_window(tmp_path, capsys):
    folder = make_folder(tmp_path / "ds", [(64, 64)] * 3, frames=17, text_dim=32)
    overrides = video_overrides(folder)
    out = tmp_path / "cache"
    experiment = str(ROOT / "experiments" / "tiny_cpu.py")
    assert tool.main([experiment, *overrides, "--output", str(out), "--device", "cpu"]) == 0
    assert "data_train=latent_cache" in capsys.readouterr().out
    assert len(LatentCacheDataset(cache_dir=out, num_frames=17)) == 3
    argv = [experiment, *overrides, "dataloader_train.dataset.num_frames=13", "--output", str(out)]
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert "window.num_frames: cache has 17, the run expects 13" in err and "Traceback" not in err
