"""The training commands: make-synthetic, pretrain, finetune, evaluate; and what a Ctrl-C during a run prints (the
command that continues it). Hand-written (no notebook): the command line."""
from __future__ import annotations

import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .classifier import VideoMAEForVideoClassification
from .cli_common import CommandError, load_model, progress, to_json
from .finetuning import LAYOUTS, ClipSet, ClipTrainingArgs, read_clips, train_on_clips
from .loop import RunInterrupted
from .runs import TrainingArgs, VideoFolder, train, write_motion_dataset
from .sampling_rate import evaluate_at_fitting_rates, trained_rate
from .training import MODEL_SIZES, SyntheticMotion, evaluate

__all__ = ["ReportingClips", "CLIP_DEFAULTS", "SYNTHETIC_RECIPE", "cmd_make_synthetic", "cmd_pretrain", "cmd_finetune",
           "cmd_evaluate", "resume_command", "report_interrupt"]


# --- training on the synthetic motion task (notebook 10): make-synthetic, pretrain, finetune, evaluate, demo ---------
class ReportingClips:
    """The clips of a SyntheticMotion, saying every 2 s how many have been asked for: write_motion_dataset takes
    them one at a time (about 50 a second) and says nothing until it is done."""

    EVERY = 2.0  # seconds between lines

    def __init__(self, data: SyntheticMotion):
        self.data, self.last = data, time.perf_counter()

    def __len__(self) -> int:
        return len(self.data)

    def clips(self, indices):
        if time.perf_counter() - self.last >= self.EVERY:
            self.last = time.perf_counter()
            progress(f"clip {int(indices[0]) + 1} of {len(self.data)}")
        return self.data.clips(indices)


def cmd_make_synthetic(args) -> str:
    if args.size % 2:
        raise CommandError(f"--size must be an even number of pixels >= 8, got {args.size}")
    data = SyntheticMotion(args.num, args.seed, args.frames, args.size)
    progress(f"writing {args.num} clips of {args.frames} frames, {args.size}x{args.size}, seed {args.seed}")
    folder = write_motion_dataset(args.out_dir, ReportingClips(data), overwrite=args.overwrite)
    return f"wrote {args.num} clips and labels.csv to {folder}"


def _data_spec(args, data_option: str, synthetic_option: str) -> str | None:
    folder, count = getattr(args, data_option), getattr(args, synthetic_option)
    if folder is not None:
        if not Path(folder).is_dir():
            raise CommandError(f"--{data_option.replace('_', '-')} {folder}: no such folder")
        return folder
    if count is not None:
        return f"synthetic:{count}"
    return None


def _run_training(args, task: str) -> str:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = _data_spec(args, "data", "synthetic")
    eval_data = _data_spec(args, "eval_data", "eval_synthetic")
    if eval_data == "synthetic:0":
        eval_data = ""  # no evaluation
    elif eval_data is not None and eval_data.startswith("synthetic:"):
        eval_data += f":{args.seed + 1_000_000}"
    extra = {}
    if task == "pretrain":
        extra = dict(mask_ratio=args.mask_ratio, mask=args.mask)
    else:  # the recipe: each part off unless asked for (notebook 10's fit); `make findings` gives the paper's values
        init = None if args.init == "none" else args.init
        if init is not None and not (Path(init) / "config.json").is_file():
            raise CommandError(f"--init {init}: not a checkpoint folder (no config.json); give a pre-training run's "
                               "folder (the package's tiny one: data/checkpoints/tiny-pretrained in a clone), or none")
        recipe = {k: getattr(args, k) for k in SYNTHETIC_RECIPE if getattr(args, k) is not None}
        extra = dict(init=init, num_labelled=args.num_labelled, labels_per_class=args.labels_per_class,
                     single_frame=args.single_frame, linear_probe=args.linear_probe, augment=args.augment, **recipe)
    training_args = TrainingArgs(task, data, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                 warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, seed=args.seed,
                                 eval_data=eval_data, model=dict(MODEL_SIZES[args.model]), scene=args.scene, **extra)
    command = "videomae-minimal " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith(("videomae-minimal", "__main__.py")) else None
    summary = train(training_args, args.out, resume=args.resume or False, stop_at=args.stop_at,
                    eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                    progress=not args.quiet, command=command)
    if not summary["finished"]:
        return f"stopped at step {summary['step']} of {args.steps}; continue with --resume (checkpoint in {args.out})"
    evaluation = summary["eval"]
    shown = (f", accuracy {evaluation['accuracy']:.3f} on {evaluation['n']} clips" if "accuracy" in evaluation else
             f", held-out masked loss {evaluation['masked_loss']:.4f}" if "masked_loss" in evaluation else "")
    return (f"{task}: {args.steps} steps in {summary['seconds']:.0f} s, final loss {summary['final_loss']:.4f}{shown}\n"
            f"wrote {args.out} (config.json, model.safetensors, preprocessor_config.json, training.json)")


def cmd_pretrain(args) -> str:
    if not 0 < args.mask_ratio < 1:
        raise CommandError(f"--mask-ratio must be in (0, 1), got {args.mask_ratio}")
    return _run_training(args, "pretrain")


# Options of fine-tuning on video files (--data), with their defaults: the original recipe's, mixup off.
CLIP_DEFAULTS = dict(workers=2, sampling="random", rate=4, flip=True, mixup=0.0, label_smoothing=0.1, layer_decay=0.75,
                     drop_path=0.1, accumulate=1, bf16=False, val_fraction=0.2, eval_views="single", epochs=None)


OLD_FINETUNE_ONLY = ("num_labelled", "labels_per_class", "linear_probe", "single_frame", "augment", "head_init_scale")


# The recipe's options that fine-tuning on the motion task (--synthetic) takes too; there each is off unless given.
SYNTHETIC_RECIPE = ("layer_decay", "drop_path", "label_smoothing", "mixup", "head_init_scale")


def _run_clip_finetuning(args) -> str:
    "finetune --data: video files in any layout, through train_on_clips (appendix A5)."
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    given = [name for name in OLD_FINETUNE_ONLY if getattr(args, name) not in (None, False)]
    given += ["scene"] if args.scene != "gradient" else []
    given += ["model"] if args.model != "tiny" else []
    if given:
        raise CommandError(f"--{given[0].replace('_', '-')} works with --synthetic; with --data, fine-tune on a folder of "
                           "the clips you want")
    if args.eval_synthetic is not None:
        raise CommandError("--eval-synthetic works with --synthetic; with --data, give --eval-data or --val-fraction")
    for option in ("data", "eval_data"):
        value = getattr(args, option)
        if value is not None and not Path(value).exists():
            raise CommandError(f"--{option.replace('_', '-')} {value}: no such folder or list file; expected "
                               + "; ".join(LAYOUTS))
    knobs = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in CLIP_DEFAULTS.items()}
    steps = args.steps
    init = None if args.init == "none" else args.init
    if args.rate is None and init is not None and knobs["sampling"] == "random":  # the rate --init was trained with
        knobs["rate"], why, _ = trained_rate(init)
        progress(f"sampling rate {knobs['rate']} ({why}); training and evaluation read the clips at it")
    training_args = ClipTrainingArgs(
        args.data, eval_data=args.eval_data, val_fraction=knobs["val_fraction"], init=init, steps=steps,
        batch_size=args.batch_size, accumulate=knobs["accumulate"], lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, layer_decay=knobs["layer_decay"], drop_path=knobs["drop_path"],
        label_smoothing=knobs["label_smoothing"], mixup=knobs["mixup"], sampling=knobs["sampling"], rate=knobs["rate"],
        flip=knobs["flip"], eval_views=knobs["eval_views"], bf16=knobs["bf16"], seed=args.seed)
    if knobs["epochs"] is not None:  # epochs of the training clips -> steps of the global batch
        from .finetuning import open_clips

        train_clips, _ = open_clips(training_args)
        training_args.steps = max(1, math.ceil(knobs["epochs"] * len(train_clips) / args.batch_size))
        progress(f"{knobs['epochs']} epochs of {len(train_clips)} training clips: {training_args.steps} steps")
    command = "videomae-minimal " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith(("videomae-minimal", "__main__.py")) else None
    summary = train_on_clips(training_args, args.out, workers=knobs["workers"], resume=args.resume or False,
                             stop_at=args.stop_at, eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
                             log_every=args.log_every, progress=not args.quiet, command=command)
    if not summary["finished"]:
        return f"stopped at step {summary['step']} of {training_args.steps}; continue with --resume (checkpoint in {args.out})"
    evaluation = summary["eval"]
    shown = f", accuracy {evaluation['accuracy']:.3f} on {evaluation['n']} clips" if "accuracy" in evaluation else ""
    return (f"finetune: {training_args.steps} steps on {summary['train_clips']} clips in {summary['seconds']:.0f} s, "
            f"final loss {summary['final_loss']:.4f}{shown}\n"
            f"wrote {args.out} (config.json, model.safetensors, preprocessor_config.json, training.json)")


def cmd_finetune(args) -> str:
    if args.data is not None:
        return _run_clip_finetuning(args)
    given = [k for k in CLIP_DEFAULTS if getattr(args, k) is not None and k not in SYNTHETIC_RECIPE]
    if given:
        flag = "no-flip" if given[0] == "flip" else given[0].replace("_", "-")
        raise CommandError(f"--{flag} is an option of fine-tuning on video files: it needs --data")
    return _run_training(args, "finetune")


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


def resume_command(argv: list[str], args) -> str:
    "The command that continues this run: the same arguments, with --resume (the latest checkpoint) once."
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            if isinstance(args.resume, str) and arg == args.resume:
                continue  # --resume CHECKPOINT: the latest checkpoint now
        if arg == "--resume":
            skip = True
            continue
        if not arg.startswith("--resume="):
            kept.append(arg)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        prefix = "torchrun <the same options> -m videomae_minimal"
    elif Path(sys.argv[0]).name == "videomae-minimal":
        prefix = "videomae-minimal"
    else:
        prefix = f"{shlex.quote(sys.executable)} -m videomae_minimal"
    return f"{prefix} {shlex.join([*kept, '--resume'])}"


def report_interrupt(args, argv: list[str], e: KeyboardInterrupt) -> int:
    "Ctrl-C: one message, no traceback, exit status 130 (128 + SIGINT), as a shell reports a Ctrl-C."
    if isinstance(e, RunInterrupted) and e.checkpoint is not None:
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C) after step {e.step} of {e.total}; saved "
              f"{e.checkpoint}\ncontinue with: {resume_command(argv, args)}", file=sys.stderr)
    elif args.command in ("pretrain", "finetune") and Path(args.out).is_dir() and any(Path(args.out).glob("checkpoint-*")):
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C); the last checkpoint in {args.out} is kept\n"
              f"continue with: {resume_command(argv, args)}", file=sys.stderr)
    else:
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C)" +
              ("; no step was done, nothing to resume" if args.command in ("pretrain", "finetune") else ""),
              file=sys.stderr)
    return 130
