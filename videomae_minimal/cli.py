"""The `videomae-minimal` command line (also `python -m videomae_minimal`). The top layer: it only calls the steps."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .processing import IMAGENET_MEAN, IMAGENET_STD, frames_from_pixel_values, preprocess
from .sampling import plot_frames, read_video, sample_frame_indices, video_info, write_synthetic_clip

DATA = Path(__file__).resolve().parents[1] / "data"
BUNDLED_CLIP = DATA / "videos" / "mmaction2_test_cleaning_pool.mp4"
STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "half": ((0.5,) * 3, (0.5,) * 3)}


class CommandError(Exception):
    "A problem with the user's input, reported as one line and exit status 2."


def _save_figure_atomic(fig, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _frames_picture(video: Path, out: Path, num_frames: int, rate: int, seed: int, statistics: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    info = video_info(video)
    indices = sample_frame_indices(num_frames, rate, info.num_frames, rng=seed)
    frames = read_video(video, indices)  # (T, H, W, 3) uint8
    mean, std = STATISTICS[statistics]
    pixel_values = preprocess(frames, mean=mean, std=std)  # (T, 3, 224, 224) float32
    shown = frames_from_pixel_values(pixel_values, mean=mean, std=std)  # (T, 224, 224, 3) uint8
    fig = plot_frames(shown, titles=[f"frame {i}" for i in indices],
                      suptitle=f"{video.name}: {num_frames} frames (rate {rate}, seed {seed}) as the model sees them")
    _save_figure_atomic(fig, out)
    plt.close(fig)
    return (f"{video.name}: {info.num_frames} frames, {info.width}x{info.height}, {info.codec}\n"
            f"sampled frames {indices.tolist()}\n"
            f"pixel_values {tuple(pixel_values.shape)} {pixel_values.dtype}, {statistics} mean/std\n"
            f"wrote {out}")


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CommandError(f"{path}: no such file")
    return p


def cmd_demo(args) -> str:
    if not BUNDLED_CLIP.is_file():
        raise CommandError(f"the bundled clip {BUNDLED_CLIP} is missing (a non-editable install?); "
                           "run `videomae-minimal frames VIDEO --out FILE.png` with a video of your own")
    return _frames_picture(BUNDLED_CLIP, Path(args.out), 16, 4, args.seed, "imagenet")


def cmd_frames(args) -> str:
    return _frames_picture(_existing_file(args.video), Path(args.out), args.num_frames, args.rate, args.seed,
                           args.statistics)


def cmd_synthetic_clip(args) -> str:
    try:
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 96x160 (height x width), got {args.size!r}") from None
    path = write_synthetic_clip(args.out, num_frames=args.num_frames, fps=args.fps, size=(height, width),
                                codec=args.codec, gop_size=args.gop_size, variable_frame_rate=args.vfr)
    return f"wrote {path}: {video_info(path).num_frames} frames, {width}x{height}, {args.codec}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videomae-minimal", description="VideoMAE built from scratch: tools for its data steps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="sample and process the bundled clip; save a picture of the model's input",
                          description="Sample 16 frames (rate 4) from the bundled Kinetics clip, process them as the "
                                      "published checkpoints expect, and save the frames the model sees as a PNG.")
    demo.add_argument("--out", default="videomae_demo.png", help="picture to write (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the random clip (default: %(default)s)")
    demo.set_defaults(run=cmd_demo)

    frames = sub.add_parser("frames", help="sample and process any video; save a picture of the model's input",
                            description="Sample a clip from VIDEO, process it, and save the processed frames as a picture.")
    frames.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    frames.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    frames.add_argument("--num-frames", type=int, default=16, help="frames per clip (default: %(default)s)")
    frames.add_argument("--rate", type=int, default=4, help="sampling rate (default: %(default)s)")
    frames.add_argument("--seed", type=int, default=0, help="seed of the random clip (default: %(default)s)")
    frames.add_argument("--statistics", choices=sorted(STATISTICS), default="imagenet",
                        help="normalisation mean/std: imagenet (published checkpoints) or half (0.5/0.5)")
    frames.set_defaults(run=cmd_frames)

    synth = sub.add_parser("synthetic-clip", help="write a test clip whose frames show their own numbers",
                           description="Write a synthetic clip (a ball crossing a coloured field, with the frame number "
                                       "drawn in binary along the top). The container follows OUT's extension.")
    synth.add_argument("out", help="file to write, e.g. clip.mp4, clip.mkv, clip.avi, clip.webm")
    synth.add_argument("--num-frames", type=int, default=90, help="(default: %(default)s)")
    synth.add_argument("--fps", type=int, default=30, help="(default: %(default)s)")
    synth.add_argument("--size", default="96x160", help="HEIGHTxWIDTH (default: %(default)s)")
    synth.add_argument("--codec", default="libx264", help="FFmpeg encoder: libx264, mpeg4, libvpx-vp9, ... (default: %(default)s)")
    synth.add_argument("--gop-size", type=int, default=None, help="frames between key frames (default: the encoder's)")
    synth.add_argument("--vfr", action="store_true", help="variable frame rate (frames 20 ms and 55 ms apart)")
    synth.set_defaults(run=cmd_synthetic_clip)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(args.run(args))
    except (CommandError, ValueError, IndexError, OSError) as e:  # VideoReadError is a ValueError
        print(f"videomae-minimal {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0
