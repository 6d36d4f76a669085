"""LocalVideoDataset on mp4 files generated here: windows, resize, embeddings, failures."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_train.data.loader import build_dataloader
from cosmos_train.data.local_video import LocalVideoDataset, VideoLoadError, load_text_embedding
from cosmos_train.data.video_io import write_mp4

T = 8  # num_frames used by the tests
LEVEL = 12  # grey level step per frame: frame k is uniformly k * LEVEL


def ramp_video(frames: int, height: int = 48, width: int = 64) -> torch.Tensor:
    """uint8 [3, frames, H, W] whose frame k is uniformly k * LEVEL (frames are identifiable)."""
    levels = (torch.arange(frames) * LEVEL).to(torch.uint8)
    return levels.view(1, frames, 1, 1).expand(3, frames, height, width).contiguous()


def frame_ids(video: torch.Tensor) -> list[int]:
    """Recover the source frame numbers from the decoded grey levels (codec error is a few
    levels)."""
    return [round(float(v) / LEVEL) for v in video[0, :, :, :].float().mean(dim=(1, 2))]


def make_dataset(root: Path, lengths: dict[str, int], captions: bool = True) -> Path:
    for stem, frames in lengths.items():
        write_mp4(root / "videos" / f"{stem}.mp4", ramp_video(frames), fps=12.0)
        if captions:
            (root / "metas").mkdir(parents=True, exist_ok=True)
            (root / "metas" / f"{stem}.txt").write_text(f"a video of {stem}\n")
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """long: 20 frames, exact: T frames, short: 5 frames; embeddings in two formats."""
    root = make_dataset(tmp_path_factory.mktemp("nemo"), {"long": 20, "exact": T, "short": 5})
    emb = root / "t5_xxl"
    emb.mkdir()
    with open(emb / "long.pickle", "wb") as f:  # Cosmos t5_xxl layout
        pickle.dump([np.full((3, 6), 0.5, dtype=np.float16)], f)
    torch.save({"embeddings": torch.ones(4, 6, dtype=torch.bfloat16)}, emb / "exact.pt")
    torch.save(torch.ones(2, 6), emb / "short.pt")
    return root


def dataset(root: Path, **kw) -> LocalVideoDataset:
    kw = {"num_frames": T, "video_size": (32, 48), **kw}
    return LocalVideoDataset(dataset_dir=root, **kw)


def index_of(ds: LocalVideoDataset, stem: str) -> int:
    return [v.stem for v in ds.videos].index(stem)


def test_item_keys_shapes_dtypes_and_padding(data_dir):
    ds = dataset(data_dir, text_embeddings_subdir="t5_xxl", text_len=5, text_dim=6, start="first")
    item = ds[index_of(ds, "long")]
    assert item["video"].shape == (3, T, 32, 48) and item["video"].dtype == torch.uint8
    assert item["ai_caption"] == "a video of long"
    assert item["fps"] == pytest.approx(12.0)
    assert (
        item["image_size"].tolist() == [32, 48, 32, 48] and item["image_size"].dtype == torch.int64
    )
    assert item["padding_mask"].shape == (1, 32, 48) and item["padding_mask"].dtype == torch.float32
    assert (item["num_frames"], item["n_orig_video_frames"], item["sample_idx"]) == (
        T,
        20,
        index_of(ds, "long"),
    )
    emb, mask = item["t5_text_embeddings"], item["t5_text_mask"]
    assert emb.shape == (5, 6) and emb.dtype == torch.float32 and mask.dtype == torch.int64
    assert mask.tolist() == [1, 1, 1, 0, 0]
    assert torch.all(emb[:3] == 0.5) and not emb[3:].any()
    exact = ds[index_of(ds, "exact")]
    assert exact["t5_text_mask"].tolist() == [1, 1, 1, 1, 0]


def test_first_window(data_dir):
    ds = dataset(data_dir, start="first")
    item = ds[index_of(ds, "long")]
    assert item["frame_start"] == 0 and frame_ids(item["video"]) == list(range(T))


def test_random_window_is_contiguous_deterministic_and_varies_by_epoch(data_dir):
    ds = dataset(data_dir, start="random", seed=3)
    i = index_of(ds, "long")
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[i]
        start = item["frame_start"]
        assert 0 <= start <= 20 - T
        assert frame_ids(item["video"]) == list(range(start, start + T))
        assert torch.equal(ds[i]["video"], item["video"])  # same (seed, epoch, index): same window
        starts.add(start)
    assert len(starts) > 1


def test_exact_length_video_works_with_random_start(data_dir):
    ds = dataset(data_dir, start="random")
    for epoch in range(3):
        ds.set_epoch(epoch)
        item = ds[index_of(ds, "exact")]
        assert item["frame_start"] == 0 and item["__key__"] == "exact"
        assert frame_ids(item["video"]) == list(range(T))


def test_too_short_video_is_replaced_with_a_warning(data_dir):
    ds = dataset(data_dir)
    i = index_of(ds, "short")
    with pytest.warns(RuntimeWarning, match="has 5 frames, fewer than num_frames=8"):
        item = ds[i]
    assert item["__key__"] in ("long", "exact") and item["sample_idx"] == i


def test_failure_after_max_retries_is_loud(data_dir):
    ds = dataset(data_dir, max_retries=1)
    with (
        pytest.warns(RuntimeWarning),
        pytest.raises(VideoLoadError, match=r"(?s)1 video\(s\) failed.*short.mp4: has 5 frames"),
    ):
        ds[index_of(ds, "short")]


def test_all_videos_too_short_stops_instead_of_looping(tmp_path):
    root = make_dataset(tmp_path, {"a": 4, "b": 5, "c": 6})
    ds = dataset(root, max_retries=50)
    with pytest.warns(RuntimeWarning), pytest.raises(VideoLoadError) as err:
        ds[0]
    message = str(err.value)
    assert "3 video(s) failed" in message and all(f"{s}.mp4" in message for s in "abc")


def test_undecodable_file_is_skipped(tmp_path):
    root = make_dataset(tmp_path, {"good": 10})
    (root / "videos" / "bad.mp4").write_bytes(b"not a video")
    (root / "metas" / "bad.txt").write_text("broken")
    ds = dataset(root)
    with pytest.warns(RuntimeWarning, match="cannot decode"):
        assert ds[index_of(ds, "bad")]["__key__"] == "good"


def edge_video() -> torch.Tensor:
    video = torch.full((3, T, 48, 64), 20, dtype=torch.uint8)
    video[:, :, :, :8] = 230  # a bright band at the left edge
    return video


@pytest.mark.parametrize(
    "resize, left_bright",
    [("stretch", True), ("center_crop", False)],
    ids=["stretch-keeps-edges", "center-crop-cuts-edges"],
)
def test_resize_modes(tmp_path, resize, left_bright):
    write_mp4(tmp_path / "videos" / "v.mp4", edge_video())
    (tmp_path / "metas").mkdir()
    (tmp_path / "metas" / "v.txt").write_text("edge")
    item = dataset(tmp_path, video_size=(32, 32), resize=resize, start="first")[0]
    assert item["video"].shape == (3, T, 32, 32)
    assert (float(item["video"][:, 0, :, 0].float().mean()) > 150) == left_bright
    assert float(item["video"][:, 0, :, 16].float().mean()) < 60  # the centre stays dark


@pytest.mark.filterwarnings("ignore:skipping video:RuntimeWarning")
def test_loader_with_workers_matches_main_process(data_dir):
    kw = dict(text_embeddings_subdir="t5_xxl", text_len=5, text_dim=6)
    main = list(
        build_dataloader(dataset=dataset(data_dir, **kw), batch_size=2, drop_last=False, seed=1)
    )
    workers = list(
        build_dataloader(
            dataset=dataset(data_dir, **kw), batch_size=2, drop_last=False, seed=1, num_workers=2
        )
    )
    assert len(main) == len(workers) == 2
    for a, b in zip(main, workers):
        assert a["video"].shape[1:] == (3, T, 32, 48) and isinstance(a["ai_caption"], list)
        assert torch.equal(a["video"], b["video"]) and a["ai_caption"] == b["ai_caption"]
        assert a["t5_text_mask"].shape == (len(a["ai_caption"]), 5)


# ---- construction errors ----------------------------------------------------------------------


def test_missing_dataset_folder_names_the_prepare_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*tools/prepare_nemo_assets.py"):
        dataset(tmp_path / "nowhere")


def test_missing_captions_are_listed(tmp_path):
    make_dataset(tmp_path, {"a": 9}, captions=False)
    with pytest.raises(FileNotFoundError, match=r"caption file\(s\) missing.*a.txt"):
        dataset(tmp_path)


def test_missing_embedding_folder_names_the_embedding_command(data_dir):
    with pytest.raises(
        FileNotFoundError, match=r"reason1 does not exist.*tools/compute_text_embeddings.py"
    ):
        dataset(data_dir, text_embeddings_subdir="reason1")


def test_missing_embedding_file_is_listed(tmp_path):
    make_dataset(tmp_path, {"a": 9, "b": 9})
    (tmp_path / "emb").mkdir()
    torch.save(torch.zeros(2, 4), tmp_path / "emb" / "a.pt")
    with pytest.raises(FileNotFoundError, match=r"1 text embedding file\(s\) missing.*videos b "):
        dataset(tmp_path, text_embeddings_subdir="emb")


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(text_dim=7), r"embedding width 6 != text_dim=7"),
        (dict(text_dim=6, text_len=2), r"3 tokens > text_len=2"),
    ],
    ids=["wrong-width", "too-many-tokens"],
)
def test_embedding_shape_errors(data_dir, kw, message):
    ds = dataset(data_dir, text_embeddings_subdir="t5_xxl", start="first", **kw)
    with pytest.raises(ValueError, match=message):
        ds[index_of(ds, "long")]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(start="middle"), "start must be"),
        (dict(resize="pad"), "resize must be"),
        (dict(video_size=(32,)), "video_size must be"),
        (dict(max_retries=0), "max_retries must be a positive int"),
    ],
    ids=["start", "resize", "video-size", "retries"],
)
def test_bad_arguments(data_dir, kw, message):
    with pytest.raises(ValueError, match=message):
        dataset(data_dir, **kw)


def test_load_text_embedding_formats(tmp_path):
    torch.save(torch.ones(1, 3, 4), tmp_path / "batched.pt")
    assert load_text_embedding(tmp_path / "batched.pt").shape == (3, 4)
    with open(tmp_path / "bare.pkl", "wb") as f:
        pickle.dump(np.zeros((2, 4), dtype=np.float16), f)
    assert load_text_embedding(tmp_path / "bare.pkl").dtype == torch.float32
    torch.save({"other": torch.ones(2)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="needs an 'embeddings' entry"):
        load_text_embedding(tmp_path / "bad.pt")


def test_packet_count_fallback_matches_container_count(data_dir):
    from cosmos_train.data.video_io import count_frames, count_packets

    assert (
        count_packets(data_dir / "videos" / "long.mp4")
        == 20
        == count_frames(data_dir / "videos" / "long.mp4")
    )


# ---- Cosmos's JSON caption layout ----------------------------------------------------------------
@pytest.fixture()
def json_caption_dir(tmp_path):
    import json

    root = tmp_path / "json_captions"
    for stem in ("a", "b"):
        write_mp4(root / "videos" / f"{stem}.mp4", torch.zeros(3, 3, 16, 16, dtype=torch.uint8))
        (root / "captions").mkdir(parents=True, exist_ok=True)
        (root / "captions" / f"{stem}.json").write_text(
            json.dumps(
                {
                    "long": f"A long caption of {stem}. ",
                    "medium": f"medium {stem}",
                    "short": f"{stem}",
                }
            )
        )
    return root


@pytest.mark.parametrize("key", ["long", "medium", "short"])
def test_json_captions_pick_the_configured_prompt(json_caption_dir, key):
    ds = LocalVideoDataset(
        dataset_dir=json_caption_dir, num_frames=3, video_size=(16, 16), caption_key=key
    )
    expected = {"long": "A long caption of a.", "medium": "medium a", "short": "a"}[key]
    assert ds[0]["ai_caption"] == expected  # stripped, like the .txt captions


def test_json_caption_errors_name_the_file_and_keys(json_caption_dir):
    (json_caption_dir / "captions" / "b.json").write_text('{"long": "x"}')
    with pytest.raises(
        ValueError, match=r"b\.json has no string 'short' caption \(found \['long'\]\)"
    ):
        LocalVideoDataset(
            dataset_dir=json_caption_dir, num_frames=3, video_size=(16, 16), caption_key="short"
        )
    (json_caption_dir / "captions" / "b.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing in .*captions: b\.json"):
        LocalVideoDataset(
            dataset_dir=json_caption_dir, num_frames=3, video_size=(16, 16), caption_key="long"
        )
    with pytest.raises(ValueError, match="caption_key must be None"):
        LocalVideoDataset(
            dataset_dir=json_caption_dir, num_frames=3, video_size=(16, 16), caption_key="tiny"
        )
