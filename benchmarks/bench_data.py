#!/usr/bin/env python3
"""Clip -> pixel_values: videomae_minimal against the Hugging Face docs recipe, measured side by side.

The docs recipe decodes from frame 0 up to the last wanted frame (`read_video_pyav`), then runs transformers'
VideoMAEImageProcessor. Ours seeks to the key frame before the clip, decodes forward with threads and converts only
the wanted frames, then resizes uint8 frames in torch. Both produce the same pixel_values (checked below).

The video is the bundled Kinetics clip (10 s, 30 fps, 300 frames), used as it is and re-encoded at 640x360 with
H.264 twice: key frames every 2 s (a common streaming setting) and x264's default (every 250 frames, plus scene
cuts), and once with a single key frame, where seeking cannot help at all. The clip is the last 16 x 4 clip of the video (frames 235..298). Repetitions are interleaved; we report the
median and min-max of each, and the ratio of medians.

    python benchmarks/bench_data.py [--repeats 7] [--out results.md]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from videomae_minimal import IMAGENET_MEAN, IMAGENET_STD, preprocess, read_video

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "videos" / "mmaction2_test_cleaning_pool.mp4"


def read_video_pyav(container, indices):
    "The transformers VideoMAE docs example, verbatim."
    frames = []
    container.seek(0)
    start_index = indices[0]
    end_index = indices[-1]
    for i, frame in enumerate(container.decode(video=0)):
        if i > end_index:
            break
        if i >= start_index and i in indices:
            frames.append(frame)
    return np.stack([x.to_ndarray(format="rgb24") for x in frames])


def reencode(dst: Path, width: int, height: int, gop_size: int | None, options: dict | None = None) -> Path:
    with av.open(str(SOURCE)) as src, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if gop_size:
            stream.codec_context.gop_size = gop_size
        for i, frame in enumerate(src.decode(video=0)):
            frame = frame.reformat(width=width, height=height, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            frame.pict_type = av.video.frame.PictureType.NONE  # else x264 copies the source's key frame at 235
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return dst


def key_frames(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        packets = sorted((p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size)
    return [i for i, (_, key) in enumerate(packets) if key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()

    import transformers
    from transformers import VideoMAEImageProcessor
    transformers.logging.set_verbosity_error()
    processor = VideoMAEImageProcessor(image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    indices = np.clip(np.linspace(235, 299, 16), 235, 298).astype(np.int64)  # the last 16 x 4 clip

    def docs_recipe(path):
        with av.open(str(path)) as container:
            frames = read_video_pyav(container, indices)
        return processor(list(frames), return_tensors="pt").pixel_values[0]

    def ours(path):
        return preprocess(read_video(path, indices))

    with tempfile.TemporaryDirectory() as tmp:
        videos = {
            "340x256, as published (key frames at 0, 235)": SOURCE,
            "640x360, key frame every 2 s": reencode(Path(tmp) / "gop60.mp4", 640, 360, 60),
            "640x360, x264 default key frames": reencode(Path(tmp) / "default.mp4", 640, 360, None),
            # the worst case for seeking: one key frame, so both decode from frame 0
            "640x360, a single key frame (frame 0)": reencode(Path(tmp) / "one_key.mp4", 640, 360, None,
                                                              {"x264-params": "keyint=300:scenecut=0"}),
        }
        rows = []
        for name, path in videos.items():
            a, b = ours(path), docs_recipe(path)  # warm-up, and the outputs must agree
            grey = ((a - b) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255).abs().max().item()
            assert grey <= 1.001, f"{name}: outputs differ by {grey:.2f} grey levels"
            times = {"ours": [], "docs": []}
            for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both alike
                for label, fn in (("ours", ours), ("docs", docs_recipe)):
                    t0 = time.perf_counter()
                    fn(path)
                    times[label].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            keys = key_frames(path)
            rows.append(f"| {name} | {[k for k in keys if k <= 298][-3:]} | "
                        f"{med['docs'] * 1e3:.0f} ({min(times['docs']) * 1e3:.0f}-{max(times['docs']) * 1e3:.0f}) | "
                        f"{med['ours'] * 1e3:.0f} ({min(times['ours']) * 1e3:.0f}-{max(times['ours']) * 1e3:.0f}) | "
                        f"**{med['docs'] / med['ours']:.1f}x** | {grey:.0f} |")
    table = "\n".join([
        "Made by `python benchmarks/bench_data.py" + (f" --repeats {args.repeats}" if args.repeats != 7 else "")
        + (f" --out {args.out}" if args.out else "") + "` (or `make bench-data`).",
        "",
        f"Clip -> pixel_values (16, 3, 224, 224), frames {indices[0]}..{indices[-1]} of a 10 s 30 fps video; "
        f"median of {args.repeats} interleaved runs, ms (min-max); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, PyAV {av.__version__}, transformers {transformers.__version__}",
        "",
        "| video | last key frames | HF docs recipe | videomae_minimal | speed-up | max diff (grey levels) |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
