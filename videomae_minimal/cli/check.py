"""The commands that check a checkpoint: compare (the same weights in transformers) and evaluate (accuracy on
labelled clips), each registered beside its handler. Hand-written (no notebook): the command line."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from ..api import compare_with_transformers
from ..classifier import VideoMAEForVideoClassification
from ..finetuning import LAYOUTS, ClipSet, read_clips
from ..masking import tube_mask
from ..runs import VideoFolder
from ..sampling_rate import evaluate_at_fitting_rates, trained_rate
from ..training import SCENES, SyntheticMotion, evaluate
from .look import read_views
from .options import CommandError, checkpoint_options, existing_file, integer, load_model, number, progress, to_json

__all__ = ["cmd_compare", "cmd_evaluate", "register"]


def cmd_compare(args) -> tuple[str, int]:
    try:
        import transformers
    except ImportError:
        raise CommandError("compare needs transformers as the reference: pip install transformers "
                           "(or pip install 'videomae-minimal[dev]')") from None
    transformers.logging.set_verbosity_error()
    ours = load_model(args.checkpoint, config=args.config)
    config = ours.config
    if args.video:
        pixel_values, _ = read_views(existing_file(args.video), ours, "single", args.rate, not args.no_autorotate,
                                 args.checkpoint)
    else:
        generator = torch.Generator().manual_seed(args.seed)
        pixel_values = torch.randn(1, config.num_frames, config.num_channels, config.image_size, config.image_size, generator=generator)
    mask = tube_mask(len(pixel_values), config.grid, 0.9, generator=torch.Generator().manual_seed(args.seed))
    progress(f"loading the same checkpoint with transformers {transformers.__version__}, running both")
    path = Path(args.checkpoint)  # transformers reads a transformers folder or a Hub id itself; else a copy of ours
    readable = args.config is None and ((path.is_dir() and (path / "config.json").is_file()) or not path.exists())
    diffs = compare_with_transformers(ours, pixel_values, args.checkpoint if readable else None, mask)
    broken = [name for name, d in diffs.items() if not math.isfinite(d)]
    if broken:
        raise CommandError(f"{args.checkpoint}: the {' and '.join(broken)} are not finite numbers (NaN or Inf) here or in "
                           "transformers: its weights are broken, and there is nothing to compare")
    match = all(d <= args.atol for d in diffs.values())
    if args.json:
        text = to_json({"checkpoint": args.checkpoint, "video": args.video, "model": type(ours).__name__, "atol": args.atol,
                           "max_abs_diff": diffs, "match": match})
    else:
        text = "\n".join(f"{name}: max |difference| {d:.2e} {'<=' if d <= args.atol else '>'} atol {args.atol:g}"
                          + ("" if d <= args.atol else "  MISMATCH") for name, d in diffs.items())
        text += f"\n{type(ours).__name__}: {'match' if match else 'DO NOT MATCH'} transformers {transformers.__version__}"
    return text, 0 if match else 1


def cmd_evaluate(args) -> tuple[str, int] | str:
    model = load_model(args.checkpoint, VideoMAEForVideoClassification)
    config = model.config
    trained = trained_rate(args.checkpoint)
    if args.data is not None and (args.rate is not None or trained.video_files):
        return _evaluate_video_files(args, model, trained)
    if args.rate is not None:
        raise CommandError("--rate applies to --data (video files); --synthetic clips are made at the model's frames")
    if args.data is not None:  # as a motion-task run reads them: each clip's frames spread over it (consecutive here)
        progress(f"reading the clips listed in {Path(args.data) / 'labels.csv'}")
        data = VideoFolder(args.data, config.num_frames, config.image_size)
    else:
        data = SyntheticMotion(args.synthetic, args.seed, config.num_frames, config.image_size, args.scene)
    progress(f"evaluating on {len(data)} clips")
    return _accuracy_report(evaluate(model, data, batch_size=args.batch_size), args.json)


def _evaluate_video_files(args, model, trained) -> str:
    "evaluate --data for a checkpoint trained on video files (or given --rate): every clip, in any of LAYOUTS."
    rate = args.rate if args.rate is not None else trained.rate
    progress(f"sampling rate {rate} ({'--rate' if args.rate is not None else trained.why})")
    if not Path(args.data).exists():
        raise CommandError(f"--data {args.data}: no such folder or list file; expected " + "; ".join(LAYOUTS))
    train_clips, val_clips = read_clips(args.data)
    clips = train_clips if val_clips is None else ClipSet(
        train_clips.files + val_clips.files, np.concatenate([train_clips.labels, val_clips.labels]),
        train_clips.label_names, np.concatenate([train_clips.frame_counts, val_clips.frame_counts]), train_clips.layout)
    progress(f"evaluating on {len(clips)} clips")
    result, notices = evaluate_at_fitting_rates(model, clips, rate, args.batch_size)
    for notice in notices:
        print(f"notice: {notice}, the largest rate that fits", file=sys.stderr)
    return _accuracy_report(result, args.json)


def _accuracy_report(result: dict, as_json: bool) -> str:
    if as_json:
        return to_json(result)
    lines = [f"accuracy {result['accuracy']:.4f} on {result['n']} clips"]
    lines += [f"  {name:<24} {accuracy:.3f}" for name, accuracy in result["per_class"].items()]
    return "\n".join(lines)


def register(add) -> None:
    "The commands that check a checkpoint, compare and evaluate (`add`: the parser's add_parser)."
    compare = add("compare", help="load a checkpoint here and in transformers; compare the outputs",
                  description="Run the same checkpoint in videomae_minimal and in transformers on the same input "
                              "(VIDEO, or seeded noise) and print the largest difference of the logits (and loss). "
                              "Exit 0 when they match within --atol, 1 when not, 2 on an error.")
    checkpoint_options(compare)
    compare.add_argument("--video", help="a video to use as input (default: seeded random input)")
    compare.add_argument("--atol", type=number(0), default=1e-4, help="(default: %(default)s)")
    compare.add_argument("--seed", type=integer(0), default=0, help="seed of the input and the mask (default: %(default)s)")
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    compare.set_defaults(run=cmd_compare)
    evaluate_ = add("evaluate", help="accuracy of a classifier on a folder of clips or on new synthetic clips",
                    description="Classify every clip and print the accuracy, overall and per class.")
    evaluate_.add_argument("--checkpoint", required=True, help="a fine-tuned checkpoint folder")
    source = evaluate_.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a folder with labels.csv and its clips")
    source.add_argument("--synthetic", type=integer(1), metavar="N", help="N new clips of the motion task, from --seed")
    evaluate_.add_argument("--seed", type=integer(0), default=1, help="seed of the --synthetic clips (default: %(default)s)")
    evaluate_.add_argument("--scene", choices=SCENES, default="gradient", help="background of the --synthetic clips (default: %(default)s)")
    evaluate_.add_argument("--batch-size", type=integer(1), default=64, help="(default: %(default)s)")
    evaluate_.add_argument("--rate", type=integer(1), help="--data: frames between sampled frames, the centre clip of "
                           "each video (default: as the checkpoint was trained: its training.json's rate for a run on "
                           "video files; a motion-task run's clips are read as it read them)")
    evaluate_.add_argument("--json", action="store_true", help='print {"accuracy": float, "n": int, "per_class": {...}}')
    evaluate_.set_defaults(run=cmd_evaluate)
