"""Notebook 10's fair experiment: the flat scene, the label-preserving augmentation (checked on the pixels), the
recipe's loss against the textbook formulas, the reconstruction gate against a hand computation, actual mask ratios,
and `finetune --synthetic` with the paper's recipe from the command line."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videomae_minimal.cli import main
from videomae_minimal.config import VideoMAEConfig
from videomae_minimal.pretraining import VideoMAEForPreTraining
from videomae_minimal.runs import (TrainingArgs, build_model, finetuning_loss, motion_task_parts, soft_cross_entropy,
                                   soft_targets)
from videomae_minimal.training import (MINIATURE, MOTIONS, SyntheticMotion, TrainingError, actual_mask_ratio,
                                       augment_motion_clips, dataset_indices, pixel_values_from_clips,
                                       reconstruction_gate, render_motion_clip)


def describe(cover: np.ndarray) -> str:
    """The motion a bar's cover (T, S, S) shows, measured on the pixels alone: the largest of the centre's travel
    (pixels), the long axis's turn (scaled: 10 degrees = 1) and the area's change (doubling = 6)."""
    def centre(c):
        rows, cols = np.nonzero(c > 0.5)
        return cols.mean(), rows.mean()

    def angle(c):  # the long axis, in screen coordinates (rows down): a growing angle turns clockwise
        rows, cols = np.nonzero(c > 0.5)
        cov = np.cov(np.stack([cols, rows]))
        return 0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])

    first, last = cover[2], cover[-3]  # inner frames: the bar is in view
    (x0, y0), (x1, y1) = centre(first), centre(last)
    turn = (angle(last) - angle(first) + np.pi / 2) % np.pi - np.pi / 2
    growth = math.log((last > 0.5).sum() / (first > 0.5).sum())
    scores = {"move_right": x1 - x0, "move_left": x0 - x1, "move_down": y1 - y0, "move_up": y0 - y1,
              "rotate_clockwise": np.degrees(turn) / 10, "rotate_counterclockwise": -np.degrees(turn) / 10,
              "grow": growth / math.log(2) * 6, "shrink": -growth / math.log(2) * 6}
    return max(scores, key=scores.get)


def test_the_flat_scene_keeps_the_bar_and_its_motion():
    for motion in range(8):
        flat, cover = render_motion_clip(motion, np.random.default_rng([3, motion]), 8, 32, "flat", with_cover=True)
        gradient = render_motion_clip(motion, np.random.default_rng([3, motion]), 8, 32)
        on_bar = cover == 1.0  # wholly covered: no background mixed in
        assert np.abs(flat[on_bar].astype(int) - gradient[on_bar]).max() == 0  # the same bar, the same motion
        background = flat[cover == 0].astype(float)  # (n, 3)
        assert 6 < background.std(axis=0).mean() < 10  # pixel noise of std 8 around one flat colour
        assert describe(cover) == MOTIONS[motion]
    with pytest.raises(ValueError, match="scene must be one of"):
        SyntheticMotion(4, scene="stripes")


def test_augmentation_renames_each_label_to_the_motion_the_pixels_show():
    data = SyntheticMotion(64, seed=5, num_frames=8, scene="flat")
    covers = data.object_cover(range(64))  # (64, T, S, S)
    as_clips = (np.repeat(covers[..., None], 3, axis=-1) * 255).round().astype(np.uint8)  # the bar alone, as a clip
    augmented, labels = augment_motion_clips(as_clips, data.labels(range(64)), np.arange(64), seed=1)
    shown = [describe(clip[..., 0] / 255) for clip in augmented]
    assert shown == [MOTIONS[k] for k in labels]
    assert (labels != data.labels(range(64))).mean() > 0.25  # each class is renamed with probability 1/2
    again, _ = augment_motion_clips(as_clips, data.labels(range(64)), np.arange(64), seed=1)
    assert np.array_equal(again, augmented)


def test_the_recipe_loss_is_the_textbook_label_smoothing_and_mixup():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 8), torch.tensor([0, 3, 7, 1, 1, 5])
    eps = 0.1  # timm's LabelSmoothingCrossEntropy: (1 - eps) * nll + eps * mean over classes of -log p
    log_p = logits.log_softmax(-1)
    textbook = ((1 - eps) * -log_p[torch.arange(6), labels] + eps * -log_p.mean(-1)).mean()
    assert torch.allclose(soft_cross_entropy(logits, soft_targets(labels, 8, eps)), textbook, atol=1e-6)
    assert torch.allclose(F.cross_entropy(logits, labels, label_smoothing=eps), textbook, atol=1e-6)
    args = TrainingArgs("finetune", "synthetic:16", label_smoothing=eps, mixup=0.8, model=dict(MINIATURE), seed=2)
    model = build_model(args, dict(enumerate(MOTIONS)))
    data, positions = SyntheticMotion(16, seed=2, num_frames=8), np.arange(8)
    loss = finetuning_loss(model, data, positions, args, step=0)
    # timm's Mixup: the batch blended with itself flipped, lambda ~ Beta(0.8, 0.8), the smoothed targets alike
    lam = float(np.random.default_rng([2, 14, 0, 0]).beta(0.8, 0.8))  # mixup's draw for step 0 on rank 0
    clips, labels = data.clips(dataset_indices(positions, len(data), 2))
    x = pixel_values_from_clips(clips, model.preprocessor_config)  # (8, T, 3, S, S)
    targets = (1 - eps) * F.one_hot(torch.from_numpy(labels), 8).float() + eps / 8  # (8, 8)
    mixed_x, mixed_targets = lam * x + (1 - lam) * x.flip(0), lam * targets + (1 - lam) * targets.flip(0)
    expected = -(mixed_targets * model(mixed_x).logits.log_softmax(-1)).sum(-1).mean()
    assert 0 < lam < 1 and torch.allclose(loss, expected, atol=1e-6)


def test_the_gate_against_a_hand_computation():
    "The gate's three losses recomputed here, tubelet by tubelet, with plain loops over one clip."
    torch.manual_seed(0)
    config = VideoMAEConfig(**MINIATURE, use_mean_pooling=False)
    model = VideoMAEForPreTraining(config).eval()
    data = SyntheticMotion(1, seed=9, num_frames=8, scene="flat")
    gate = reconstruction_gate(model, data, 0.9, "tube", seed=4)
    from videomae_minimal.training import pixel_values_from_clips, sample_masks, PreprocessorConfig
    pixel_values = pixel_values_from_clips(data.clips([0])[0], PreprocessorConfig(size=32, crop_size=32))
    mask = sample_masks(np.array([0]), config.grid, 0.9, "tube", 4)[0]  # (256,)
    with torch.no_grad():
        predicted = model(pixel_values, mask[None]).logits[0]  # (N_masked, 96)
    frames = (pixel_values[0] * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
              + torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))  # (T, 3, S, S) in [0, 1]
    cover = data.object_cover([0])[0]  # (T, S, S)
    t_, h_, w_ = config.grid
    object_errors, zero_errors, copy_errors = [], [], []

    def target(t, i, j):  # the tubelet's pixels in (dt, dy, dx, c) order, normalised per channel
        block = frames[2 * t:2 * t + 2, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4].permute(0, 2, 3, 1).reshape(-1, 3)
        return ((block - block.mean(0)) / (block.std(0) + 1e-6)).reshape(-1)

    hidden = [n for n in range(t_ * h_ * w_) if mask[n]]
    for row, n in enumerate(hidden):
        t, i, j = n // (h_ * w_), (n // w_) % h_, n % w_
        if cover[2 * t:2 * t + 2, 4 * i:4 * i + 4, 4 * j:4 * j + 4].mean() < 0.1:
            continue
        visible = [(abs(i - (m // w_) % h_) ** 2 + abs(j - m % w_) ** 2, m) for m in range(t * h_ * w_, (t + 1) * h_ * w_)
                   if not mask[m]]
        m = min(visible)[1]
        truth = target(t, i, j)
        object_errors.append(((predicted[row] - truth) ** 2).mean().item())
        zero_errors.append((truth ** 2).mean().item())
        copy_errors.append(((target(t, (m // w_) % h_, m % w_) - truth) ** 2).mean().item())
    assert gate["object_tubelets"] == len(object_errors) > 0
    assert gate["object_loss"] == pytest.approx(np.mean(object_errors), rel=1e-4)
    assert gate["zeros_loss"] == pytest.approx(np.mean(zero_errors), rel=1e-4)
    assert gate["copy_loss"] == pytest.approx(np.mean(copy_errors), rel=1e-4)
    assert gate["passed"] is False  # an untrained model rebuilds nothing


def test_actual_mask_ratios_on_the_miniature_grid():
    grid = (4, 8, 8)
    assert actual_mask_ratio(grid, 0.9, "tube") == 57 / 64  # int(0.9 * 64) positions a frame
    assert actual_mask_ratio(grid, 0.890625, "random") == 228 / 256 == 57 / 64  # random at the tube mask's share
    assert actual_mask_ratio(grid, 0.9, "random") == 230 / 256


def test_finetune_synthetic_with_the_recipe_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["finetune", "--synthetic", "64", "--init", "none", "--model", "miniature", "--scene", "flat",
                   "--labels-per-class", "2", "--augment", "--layer-decay", "0.75", "--drop-path", "0.1",
                   "--label-smoothing", "0.1", "--head-init-scale", "0.001", "--steps", "2", "--batch-size", "4",
                   "--warmup-steps", "1", "--eval-synthetic", "8", "--threads", "1", "--quiet", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    capsys.readouterr()
    record = json.loads((out / "training.json").read_text())["args"]
    assert (record["scene"], record["augment"], record["layer_decay"], record["head_init_scale"]) == ("flat", True, 0.75, 0.001)
    assert json.loads((out / "config.json").read_text())["patch_size"] == 4
    assert main(["evaluate", "--checkpoint", str(out), "--synthetic", "8", "--scene", "flat", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 8
    with pytest.raises(SystemExit):  # argparse: pre-training has no such option
        main(["pretrain", "--synthetic", "8", "--out", str(tmp_path / "p"), "--augment"])
    capsys.readouterr()
    assert main(["finetune", "--data", str(tmp_path), "--init", "none", "--out", str(tmp_path / "r"), "--scene", "flat"]) == 2
    assert "--scene works with --synthetic" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="are fine-tuning options"):
        TrainingArgs("pretrain", "synthetic:8", label_smoothing=0.1)


def test_a_probe_of_a_random_encoder_trains_only_what_reads_it():
    args = TrainingArgs("finetune", "synthetic:16", linear_probe=True, model=dict(MINIATURE), eval_data="")
    parts = motion_task_parts(args, 0, 1)
    trained = {name for name, p in parts.model.named_parameters() if p.requires_grad}
    assert trained == {"fc_norm.weight", "fc_norm.bias", "classifier.weight", "classifier.bias"}
