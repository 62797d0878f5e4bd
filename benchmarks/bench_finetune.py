#!/usr/bin/env python3
"""Fine-tuning on video files (appendix A5): training clips per second at 0, 1 and 2 DataLoader workers, tiny and base.

Each row is a training step as `train_on_clips` runs it: decode the clip's 16 frames (`read_video`), random resized
crop + flip, then the model's forward, backward and AdamW step. Two more rows per size split it up: the data path
alone (the loader, no model) and the model alone (the same batch again and again), so the table says which of
the two sets the pace. The clips are the two bundled Kinetics videos as downloaded (340x256 H.264, 280 and 300
frames, one class each, listed 8 times over): what a Kinetics or UCF101 user decodes, 16 frames 4 apart from the
key frame before them. Worker counts are interleaved within each repeat; each measurement
starts after its loader has delivered a first batch (the workers' start-up is not counted); the data-only rows
always take 10 batches (with fewer, 2 workers' prefetch would hide the decoding). One torch thread per
process for the tiny size (its matrices are small), torch's default for the base size.

    python benchmarks/bench_finetune.py [--repeats 3] [--base-steps 2] [--out benchmarks/finetune_results.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from videomae_minimal import VideoMAEConfig, VideoMAEForVideoClassification
from videomae_minimal.finetuning import (ClipStream, StepBatches, clip_loader, make_optimizer,
                                         read_clips, soft_cross_entropy, soft_targets)
from videomae_minimal.training import TINY

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
SOURCES = {"arm_wrestling": "mmaction2_demo_arm_wrestling.mp4", "cleaning_pool": "mmaction2_test_cleaning_pool.mp4"}
WORKERS = (0, 1, 2)


def make_clips(folder: Path) -> Path:
    "A Kinetics-style list: each bundled video 8 times (the data path decodes it afresh each time)."
    rows = [f"{VIDEOS / video},{name}\n" for _ in range(8) for name, video in SOURCES.items()]
    (folder / "clips.csv").write_text("path,label\n" + "".join(rows))
    return folder / "clips.csv"


def training_step(model, optimizer, pixel_values, labels) -> None:
    optimizer.zero_grad(set_to_none=True)
    logits = model(pixel_values.contiguous()).logits
    soft_cross_entropy(logits, soft_targets(labels, model.config.num_labels, 0.1)).backward()
    optimizer.step()


def measure(model, optimizer, stream, workers: int, steps: int, batch: int, with_model: bool = True) -> float:
    "Clips per second over `steps` steps, after a first batch that starts the workers."
    batches = iter(clip_loader(stream, StepBatches(0, steps + 1, batch), workers))
    next(batches)
    began = time.perf_counter()
    for _ in range(steps):
        pixel_values, labels, _ = next(batches)
        if with_model:
            training_step(model, optimizer, pixel_values, labels)
    seconds = time.perf_counter() - began
    del batches
    return steps * batch / seconds


def model_only(model, optimizer, stream, steps: int, batch: int) -> float:
    pixel_values, labels, _ = next(iter(clip_loader(stream, StepBatches(0, 1, batch), 0)))
    training_step(model, optimizer, pixel_values, labels)  # warm-up
    began = time.perf_counter()
    for _ in range(steps):
        training_step(model, optimizer, pixel_values, labels)
    return steps * batch / (time.perf_counter() - began)


def size_rows(name: str, config: VideoMAEConfig, clips, steps: int, batch: int, repeats: int, threads: int | None,
              data_steps: int = 10):
    if threads:
        torch.set_num_threads(threads)
    model = VideoMAEForVideoClassification(config).train()
    optimizer, _ = make_optimizer(model, 1e-4, 0.05, 0, 10_000, layer_decay=0.75)
    stream = ClipStream(clips, seed=0, num_frames=16, size=config.image_size, rate=4)
    found = {f"{w} workers": [] for w in WORKERS} | {f"data only, {w} workers": [] for w in WORKERS} | {"model only": []}
    for repeat in range(repeats):
        for w in WORKERS:  # interleaved
            found[f"{w} workers"].append(measure(model, optimizer, stream, w, steps, batch))
            found[f"data only, {w} workers"].append(measure(model, optimizer, stream, w, data_steps, batch, with_model=False))
        found["model only"].append(model_only(model, optimizer, stream, steps, batch))
        print(f"{name}: repeat {repeat + 1}/{repeats} done", file=sys.stderr, flush=True)
    rows = []
    for label, values in found.items():
        median = statistics.median(values)
        rows.append(f"| {name} | {label} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | "
                    f"{median / statistics.median(found['0 workers']):.2f}x |")
    return rows, {k: statistics.median(v) for k, v in found.items()}


def verdict(name: str, medians: dict) -> str:
    data, model = medians["data only, 0 workers"], medians["model only"]
    slower = "the decoder" if data < model else "the model"
    return (f"- {name}: in one process the data path alone delivers {data:.2f} clips/s and the model alone trains "
            f"{model:.2f} clips/s, so {slower} is the bottleneck; with 2 workers a step trains "
            f"{medians['2 workers']:.2f} clips/s ({medians['2 workers'] / medians['0 workers']:.2f}x 0 workers).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny-steps", type=int, default=10)
    parser.add_argument("--base-steps", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clips, _ = read_clips(make_clips(Path(folder)))
        tiny_rows, tiny = size_rows("tiny (32 px, 3 blocks)", VideoMAEConfig(**TINY, num_labels=2), clips,
                                    args.tiny_steps, 8, args.repeats, threads=1)
        torch.set_num_threads(os.cpu_count() or 1)
        base_rows, base = size_rows("base (224 px, 12 blocks)", VideoMAEConfig(num_labels=2), clips, args.base_steps, 2,
                                    max(1, args.repeats - 2), threads=None)
    lines = ["# Fine-tuning on video files: clips per second against DataLoader workers", "",
             f"`python benchmarks/bench_finetune.py --repeats {args.repeats} --tiny-steps {args.tiny_steps} "
             f"--base-steps {args.base_steps}`; the 2 bundled Kinetics videos (340x256 H.264) as {len(clips)} clips; torch "
             f"{torch.__version__}, {os.cpu_count()} cores ({platform.machine()}), fp32. Tiny: batch 8, one thread; "
             "base: batch 2, torch's threads. Median and min-max over the repeats (base: fewer repeats, each step "
             "is seconds); ratio: against 0 workers of the same size.", "",
             "| size | setting | clips/s | min-max | vs 0 workers |", "|---|---|---|---|---|", *tiny_rows, *base_rows, "",
             verdict("tiny", tiny), verdict("base", base), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
