"""The training commands: make-synthetic, pretrain and finetune, each registered beside its handler; and what a
Ctrl-C during a run prints (the command that continues it). Hand-written (no notebook): the command line.

`finetune` is two runs behind one command: on video files (`--data`: appendix A5's train_on_clips, the original
recipe's defaults, ClipTrainingArgs) or on the motion task (`--synthetic`: notebook 10's task through runs.train,
TrainingArgs, each part of the recipe off unless given). An option's default is its dataclass field's, read here for
the help: it is written in one place."""
from __future__ import annotations

import dataclasses
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from ..finetuning import LAYOUTS, ClipTrainingArgs, open_clips, train_on_clips
from ..loop import RunInterrupted
from ..runs import TrainingArgs, train, write_motion_dataset
from ..sampling_rate import trained_rate
from ..training import MODEL_SIZES, MOTIONS, SCENES, TINY, SyntheticMotion
from .options import CommandError, integer, number, progress

__all__ = ["ReportingClips", "CLIP_RECIPE", "SYNTHETIC_RECIPE", "default_of", "cmd_make_synthetic", "cmd_pretrain",
           "cmd_finetune", "resume_command", "report_interrupt", "training_options", "register"]


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


def _command_line() -> str | None:
    "The command as typed, for the run's training.json: only when this process is the command line itself."
    invoked = sys.argv and sys.argv[0].endswith(("videomae-minimal", "__main__.py"))
    return "videomae-minimal " + " ".join(sys.argv[1:]) if invoked else None


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
    summary = train(training_args, args.out, resume=args.resume or False, stop_at=args.stop_at,
                    eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                    progress=not args.quiet, command=_command_line())
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


# The options of fine-tuning on video files (--data): ClipTrainingArgs' fields (their defaults: the original recipe's,
# mixup off), and two of the command's own: DataLoader workers and epochs (which set --steps).
CLIP_RECIPE = ("sampling", "rate", "flip", "mixup", "label_smoothing", "layer_decay", "drop_path", "accumulate", "bf16",
               "val_fraction", "eval_views")
COMMAND_DEFAULTS = dict(workers=2, epochs=None)


def default_of(name: str, arguments=ClipTrainingArgs):
    "An option's default: its field's in `arguments` (ClipTrainingArgs or TrainingArgs), else the command's own."
    found = [f.default for f in dataclasses.fields(arguments) if f.name == name]
    return found[0] if found else COMMAND_DEFAULTS[name]


OLD_FINETUNE_ONLY = ("num_labelled", "labels_per_class", "linear_probe", "single_frame", "augment", "head_init_scale")


# The recipe's options that fine-tuning on the motion task (--synthetic) takes too; there each is off unless given.
SYNTHETIC_RECIPE = ("layer_decay", "drop_path", "label_smoothing", "mixup", "head_init_scale")


def _finetune_on_video_files(args) -> str:
    "finetune --data: video files in any layout, through train_on_clips (appendix A5); unset options: the dataclass's."
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
    recipe = {k: getattr(args, k) for k in CLIP_RECIPE if getattr(args, k) is not None}  # the rest: the field defaults
    init = None if args.init == "none" else args.init
    sampling = recipe.get("sampling", default_of("sampling"))
    if args.rate is None and init is not None and sampling == "random":  # the rate --init was trained with
        recipe["rate"], why, _ = trained_rate(init)
        progress(f"sampling rate {recipe['rate']} ({why}); training and evaluation read the clips at it")
    training_args = ClipTrainingArgs(args.data, eval_data=args.eval_data, init=init, steps=args.steps,
                                     batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
                                     weight_decay=args.weight_decay, seed=args.seed, **recipe)
    if args.epochs is not None:  # epochs of the training clips -> steps of the global batch
        train_clips, _ = open_clips(training_args)
        training_args.steps = max(1, math.ceil(args.epochs * len(train_clips) / args.batch_size))
        progress(f"{args.epochs} epochs of {len(train_clips)} training clips: {training_args.steps} steps")
    workers = default_of("workers") if args.workers is None else args.workers
    summary = train_on_clips(training_args, args.out, workers=workers, resume=args.resume or False,
                             stop_at=args.stop_at, eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
                             log_every=args.log_every, progress=not args.quiet, command=_command_line())
    if not summary["finished"]:
        return f"stopped at step {summary['step']} of {training_args.steps}; continue with --resume (checkpoint in {args.out})"
    evaluation = summary["eval"]
    shown = f", accuracy {evaluation['accuracy']:.3f} on {evaluation['n']} clips" if "accuracy" in evaluation else ""
    return (f"finetune: {training_args.steps} steps on {summary['train_clips']} clips in {summary['seconds']:.0f} s, "
            f"final loss {summary['final_loss']:.4f}{shown}\n"
            f"wrote {args.out} (config.json, model.safetensors, preprocessor_config.json, training.json)")


def cmd_finetune(args) -> str:
    "Two runs behind one command: on video files (--data) or on the motion task (--synthetic)."
    if args.data is not None:
        return _finetune_on_video_files(args)
    given = [k for k in (*CLIP_RECIPE, *COMMAND_DEFAULTS) if getattr(args, k) is not None and k not in SYNTHETIC_RECIPE]
    if given:
        flag = "no-flip" if given[0] == "flip" else given[0].replace("_", "-")
        raise CommandError(f"--{flag} is an option of fine-tuning on video files: it needs --data")
    return _run_training(args, "finetune")


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


def training_options(command, lr: float, warmup: int, batch: int,
                     data_help: str = "a folder with labels.csv and its clips (as make-synthetic writes)"):
    "What pretrain and finetune both take: the data, the run folder, the schedule, evaluation and checkpoints."
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help=data_help)
    source.add_argument("--synthetic", type=integer(1), metavar="N", help="N clips of the motion task, made in memory from --seed")
    command.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, and at the end the model "
                                                      "(config.json, model.safetensors, preprocessor_config.json) and training.json")
    command.add_argument("--steps", type=integer(1), default=1000, help="(default: %(default)s)")
    command.add_argument("--batch-size", type=integer(1), default=batch, help="global batch, split over torchrun's processes (default: %(default)s)")
    command.add_argument("--lr", type=number(0, above=True), default=lr, help="peak learning rate (default: %(default)s)")
    command.add_argument("--warmup-steps", type=integer(0), default=warmup, help="(default: %(default)s)")
    command.add_argument("--weight-decay", type=number(0), default=0.05, help="(default: %(default)s)")
    command.add_argument("--seed", type=integer(0), default=0, help="seeds the model, data order, masks and synthetic clips (default: %(default)s)")
    command.add_argument("--scene", choices=SCENES, default="gradient", help="--synthetic clips' background: a colour "
                         "with a brightness gradient, or flat with pixel noise (make findings) (default: %(default)s)")
    command.add_argument("--model", choices=sorted(MODEL_SIZES), default="tiny", help="sizes of a model trained from "
                         "scratch: tiny (16 frames, 8x8 patches) or miniature (8 frames, 4x4 patches: make findings) "
                         "(default: %(default)s)")
    held_out = command.add_mutually_exclusive_group()
    held_out.add_argument("--eval-data", help="a folder to evaluate on (default with --synthetic: 256 new clips, seed + 1000000)")
    held_out.add_argument("--eval-synthetic", type=integer(0), metavar="N", help="evaluate on N new clips (seed + 1000000); 0: none")
    command.add_argument("--eval-every", type=integer(0), default=100, help="steps between evaluations; 0: only at the end (default: %(default)s)")
    command.add_argument("--checkpoint-every", type=integer(0), default=500, help="steps between checkpoints; 0: only at the end (default: %(default)s)")
    command.add_argument("--log-every", type=integer(1), default=10, help="steps between log lines (default: %(default)s)")
    command.add_argument("--resume", nargs="?", const=True, metavar="CHECKPOINT",
                         help="continue the run in --out from its latest checkpoint (or from CHECKPOINT)")
    command.add_argument("--stop-at", type=integer(1), metavar="STEP", help="stop at STEP with a checkpoint, as if interrupted")
    command.add_argument("--threads", type=integer(1), help="torch threads per process (default: torch's choice)")
    command.add_argument("--quiet", action="store_true", help="no progress line")


def _finetune_parser(add) -> None:
    "finetune: the two data sources, the few-label and control options, and the video-files recipe."
    finetune = add("finetune", help="fine-tune a classifier on your clips (or the motion task), from a "
                                    "pre-trained encoder or from scratch",
                   description="Fine-tune VideoMAEForVideoClassification on labelled clips: video files "
                               "(--data, the original recipe: appendix A5) or the synthetic motion task "
                               "(--synthetic, notebook 10). Under torchrun (torchrun --nnodes N "
                               "--nproc_per_node M ... -m videomae_minimal finetune ...) each process takes "
                               "a share of every batch.")
    training_options(finetune, lr=1e-3, warmup=50, batch=32,
                     data_help="video files with labels, in one of these layouts: " + "; ".join(LAYOUTS)
                               + ". Without a given split (train/ and val/, train.csv and val.csv, or a split column) "
                                 "--val-fraction of each class is held out, seeded")
    finetune.add_argument("--init", required=True, metavar="CHECKPOINT|none",
                          help="the checkpoint to start from: a folder (e.g. data/checkpoints/tiny-pretrained in a clone), weights "
                               "file or Hub id (e.g. MCG-NJU/videomae-base) that from_pretrained reads; its encoder is "
                               "kept, fc_norm and the head are new for the data's labels. none: a new tiny model")
    few = finetune.add_mutually_exclusive_group()
    few.add_argument("--num-labelled", type=integer(1), help="train on a seeded subset of this many labelled clips")
    few.add_argument("--labels-per-class", type=integer(1), metavar="K", help="train on a seeded subset of exactly K clips of each class")
    finetune.add_argument("--linear-probe", action="store_true",
                          help="freeze the encoder and train only fc_norm and the head (a linear probe); with --init none the "
                               "encoder is a random one: the control that says what a probe reads without pre-training")
    finetune.add_argument("--single-frame", action="store_true",
                          help="freeze every clip at one random frame: the baseline that cannot see motion")
    finetune.add_argument("--augment", action="store_true",
                          help="--synthetic: mirror, reverse and shift clips, renaming their labels to match")
    finetune.add_argument("--head-init-scale", type=number(0, above=True), metavar="S",
                          help="--synthetic: the new head's initial weights times S (the original: 0.001; "
                               f"default: {default_of('head_init_scale', TrainingArgs):g})")
    clip = finetune.add_argument_group("fine-tuning on video files (--data; defaults: the original recipe's). With "
                                       "--synthetic, --mixup, --label-smoothing, --layer-decay and --drop-path apply "
                                       "too, each off unless given")
    clip.add_argument("--workers", type=integer(0), help="DataLoader processes decoding clips, each clip once per "
                                                          f"epoch, 2 batches ahead each; 0: in this process (default: {default_of('workers')})")
    clip.add_argument("--sampling", choices=("random", "segments"),
                      help="training frames: random: a random clip of --num-frames frames --rate apart each epoch "
                           "(Kinetics, UCF101); segments: one random frame of each of 16 equal segments (SSv2) "
                           f"(default: {default_of('sampling')})")
    clip.add_argument("--rate", type=integer(1), help="frames between sampled frames, for --sampling random "
                      "(default: the rate --init was trained with, from its training.json; 4 when it records none)")
    clip.add_argument("--no-flip", dest="flip", action="store_const", const=False,
                      help="no random horizontal flip: for labels that name a direction (SSv2's \"left\"/\"right\" "
                           "classes need it: a flipped \"pushing left to right\" is another class)")
    clip.add_argument("--mixup", type=number(0), help="mixup's Beta(alpha, alpha), once per batch; 0: off "
                                                       f"(default: {default_of('mixup'):g}; the original: 0.8)")
    clip.add_argument("--label-smoothing", type=number(0), help=f"(default: {default_of('label_smoothing'):g})")
    clip.add_argument("--layer-decay", type=number(0, above=True),
                      help="layer-wise lr decay: layer i of L trains at lr * decay^(L + 1 - i) "
                           f"(default: {default_of('layer_decay'):g}; UCF101: 0.7)")
    clip.add_argument("--drop-path", type=number(0), help="stochastic depth of the last block (default: "
                      f"{default_of('drop_path'):g}; UCF101: 0.2; with --synthetic: "
                      f"{default_of('drop_path', TrainingArgs):g})")
    clip.add_argument("--accumulate", type=integer(1), help="micro-batches per step: the --batch-size a machine cannot "
                                                              f"hold at once, in pieces (default: {default_of('accumulate')})")
    clip.add_argument("--bf16", action="store_const", const=True, help="bfloat16 autocast in the forward pass (faster "
                                                                        "on CPUs with AMX; weights stay float32)")
    clip.add_argument("--val-fraction", type=number(0), help="share of each class held out when the data gives no "
                                                               f"split; 0: none (default: {default_of('val_fraction'):g})")
    clip.add_argument("--eval-views", choices=("single", "multi"),
                      help="evaluation: single: the centre clip, centre crop; multi: the test views (5 clips x 3 crops, "
                           f"or 2 x 3 with segments), softmax averaged (default: {default_of('eval_views')})")
    clip.add_argument("--epochs", type=number(0, above=True), help="train this many epochs of the training clips "
                                                                    "(sets --steps)")
    finetune.set_defaults(run=cmd_finetune)


def register(add) -> None:
    "The training commands, make-synthetic, pretrain and finetune (`add`: the parser's add_parser)."
    make = add("make-synthetic", help="write clips of the synthetic motion task as mp4 files + labels.csv",
               description=f"Write NUM clips of the 8-motion task ({', '.join(MOTIONS)}) into OUT_DIR as "
                           "H.264 4:4:4 mp4 files (lossless in YUV) named <index>_<motion>.mp4, then "
                           "labels.csv (file,label,label_name). Clip i is drawn from (SEED, i): the files "
                           "hold the clips that training generates in memory.")
    make.add_argument("out_dir", help="folder to write (created if needed)")
    make.add_argument("--num", type=integer(1), required=True, help="number of clips (labels cycle through the 8 motions)")
    make.add_argument("--seed", type=integer(0), default=0, help="(default: %(default)s)")
    make.add_argument("--frames", type=integer(1), default=TINY["num_frames"], help="frames per clip (default: %(default)s)")
    make.add_argument("--size", type=integer(8), default=TINY["image_size"], help="frame height and width (default: %(default)s)")
    make.add_argument("--overwrite", action="store_true", help="write into a folder that already holds a labels.csv")
    make.set_defaults(run=cmd_make_synthetic)

    pretrain = add("pretrain", help="pre-train a tiny VideoMAE by masked reconstruction (torchrun-ready)",
                   description="Pre-train the tiny VideoMAE of notebook 10 with tube masking. Under torchrun "
                               "(e.g. torchrun --standalone --nproc_per_node 2 -m videomae_minimal pretrain ...) "
                               "each process takes a share of every batch; the result is the one-process result.")
    training_options(pretrain, lr=1.5e-3, warmup=100, batch=32)
    pretrain.add_argument("--mask-ratio", type=float, default=0.9, help="(default: %(default)s)")
    pretrain.add_argument("--mask", choices=("tube", "random"), default="tube", help="(default: %(default)s)")
    pretrain.set_defaults(run=cmd_pretrain)
    _finetune_parser(add)
