"""preprocess against transformers' VideoMAEImageProcessor (the published checkpoints' processor) on real frames."""
import numpy as np
import pytest
import torch

from conftest import REAL_CLIPS
from videomae_minimal import (IMAGENET_MEAN, IMAGENET_STD, frames_from_pixel_values, preprocess, preprocess_views,
                              read_video, resize_short_side, resized_shape)

transformers = pytest.importorskip("transformers")
HALF = ((0.5,) * 3, (0.5,) * 3)
STATS = {"half": HALF, "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


def reference(frames, mean, std, **kwargs):
    processor = transformers.VideoMAEImageProcessor(image_mean=list(mean), image_std=list(std), **kwargs)
    return processor(list(frames), return_tensors="pt").pixel_values[0]  # (T, 3, h, w)


def grey_levels(ours, theirs, std):
    return ((ours - theirs) * torch.tensor(std).view(1, 3, 1, 1) * 255).abs()


@pytest.fixture(scope="module")
def clips():
    return {p.stem: read_video(p, np.clip(np.linspace(164, 228, 16), 164, 227).astype(int)) for p in REAL_CLIPS}


@pytest.mark.parametrize("stats", STATS)
@pytest.mark.parametrize("clip", [p.stem for p in REAL_CLIPS])
def test_matches_transformers_within_one_grey_level(clips, clip, stats):
    mean, std = STATS[stats]
    frames = clips[clip]
    ours = preprocess(frames, mean=mean, std=std)
    theirs = reference(frames, mean, std)
    assert ours.shape == theirs.shape == (16, 3, 224, 224) and ours.dtype == torch.float32
    diff = grey_levels(ours, theirs, std)
    assert diff.max() <= 1.0 + 1e-3
    assert (diff > 0.5).float().mean() < 0.01  # off-by-one roundings are rare


@pytest.mark.parametrize("hw", [(360, 640), (640, 360), (300, 300), (257, 1000)])
def test_other_sizes_and_portrait(clips, hw):
    frames = clips[REAL_CLIPS[0].stem][:4]
    # a real picture at another size: tile it, then cut to (h, w)
    big = np.ascontiguousarray(np.tile(frames, (1, 4, 4, 1))[:, :hw[0], :hw[1]])
    mean, std = HALF
    diff = grey_levels(preprocess(big, mean=mean, std=std), reference(big, mean, std), std)
    assert diff.max() <= 1.0 + 1e-3


def test_other_size_and_crop(clips):
    frames = clips[REAL_CLIPS[1].stem][:4]
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    ours = preprocess(frames, size=160, crop_size=128)
    theirs = reference(frames, mean, std, size={"shortest_edge": 160}, crop_size={"height": 128, "width": 128})
    assert ours.shape == theirs.shape == (4, 3, 128, 128)
    assert grey_levels(ours, theirs, std).max() <= 1.0 + 1e-3


def test_resized_shape_truncates_like_transformers():
    assert resized_shape(256, 340, 224) == (224, 297)  # 224 * 340 / 256 = 297.5
    assert resized_shape(360, 640, 224) == (224, 398)
    assert resized_shape(640, 360, 224) == (398, 224)
    assert resize_short_side(np.zeros((2, 256, 340, 3), np.uint8)).shape == (2, 3, 224, 297)


def test_views_are_crops_along_the_long_side(clips):
    frames = clips[REAL_CLIPS[0].stem][:4]  # 256 x 340 -> resized 224 x 297, crops at 0, 36, 73
    mean, std = HALF
    views = preprocess_views(frames, num_crops=3, mean=mean, std=std)
    assert views.shape == (3, 4, 3, 224, 224)
    full = reference(frames, mean, std, do_center_crop=False)  # (4, 3, 224, 297), transformers' resize
    assert full.shape[-1] == 297
    for view, left in zip(views, (0, 36, 73)):
        assert grey_levels(view, full[..., left:left + 224], std).max() <= 1.0 + 1e-3
    torch.testing.assert_close(views[1], preprocess(frames, mean=mean, std=std), rtol=0, atol=0)  # centre == preprocess
    assert preprocess_views(frames, num_crops=1).shape == (1, 4, 3, 224, 224)


def test_inverse_round_trip(clips):
    frames = clips[REAL_CLIPS[0].stem]
    for mean, std in STATS.values():
        pixel_values = preprocess(frames, mean=mean, std=std)
        back = frames_from_pixel_values(pixel_values, mean=mean, std=std)
        cropped = resize_short_side(frames)[..., 0:224, 36:260].permute(0, 2, 3, 1).numpy()
        assert back.dtype == np.uint8 and back.shape == (16, 224, 224, 3)
        np.testing.assert_array_equal(back, cropped)


def test_accepts_tensors_and_lists(clips):
    frames = clips[REAL_CLIPS[0].stem][:3]
    a = preprocess(frames)
    torch.testing.assert_close(preprocess(torch.from_numpy(frames)), a, rtol=0, atol=0)
    torch.testing.assert_close(preprocess(list(frames)), a, rtol=0, atol=0)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 32, 32, 3), np.float32), "uint8"),
    (np.zeros((32, 32, 3), np.uint8), r"\(T, H, W, 3\)"),
    (np.zeros((4, 3, 32, 32), np.uint8), r"\(T, H, W, 3\)"),
])
def test_rejects_bad_frames(bad, match):
    with pytest.raises(ValueError, match=match):
        preprocess(bad)


def test_rejects_crop_larger_than_resize():
    with pytest.raises(ValueError, match="crop_size 256"):
        preprocess(np.zeros((2, 100, 120, 3), np.uint8), size=224, crop_size=256)
    with pytest.raises(ValueError, match="pixel_values"):
        frames_from_pixel_values(torch.zeros(3, 224, 224))


def test_exact_size_form_matches_transformers(clips):
    "transformers' {'height', 'width'} size resizes to exactly that size (no aspect kept), then centre-crops."
    frames = clips[REAL_CLIPS[0].stem][:4]
    mean, std = HALF
    ours = preprocess(frames, size=(240, 260), crop_size=224, mean=mean, std=std)
    theirs = reference(frames, mean, std, size={"height": 240, "width": 260})
    assert ours.shape == theirs.shape == (4, 3, 224, 224)
    assert grey_levels(ours, theirs, std).max() <= 1.0 + 1e-3
