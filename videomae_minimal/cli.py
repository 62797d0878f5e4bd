"""The `videomae-minimal` command line (also `python -m videomae_minimal`). The top layer: it only calls the steps.
Here: the parser, the course's commands (course, student, grade, grade-class) and `main`; the video and checkpoint
commands are in cli_video.py, the training commands in cli_training.py, what they share in cli_common.py."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from .bundled import DATA, course_notebooks
from .cli_common import CommandError, integer, number, progress
from .cli_embed import cmd_embed
from .cli_training import cmd_evaluate, cmd_finetune, cmd_make_synthetic, cmd_pretrain, report_interrupt
from .cli_video import (AUTOROTATE_HELP, STATISTICS, cmd_classify, cmd_compare, cmd_demo, cmd_frames, cmd_reconstruct,
                        cmd_synthetic_clip)
from .finetuning import LAYOUTS
from .training import MODEL_SIZES, MOTIONS, SCENES, TINY

__all__ = ["COMMAND_GROUPS", "CommandError", "build_parser", "main"]


NOT_GRADED_STATUS = 3  # grade-class: the gradebook is written, but some students could not be graded


GRADE_CLASS_EXIT_CODES = """exit status:
  0  every student graded (a student's points may still be 0)
  3  the gradebook is written, but some students were not graded (a link, a
     FIFO or an unreadable file in their submission, a corrupt zip, a zip
     bomb, no notebooks): summary.md and their feedback say why; fix it, then
     grade-class --student NAME
  2  nothing graded: a usage error or a problem on the instructor's side (no
     such folder, a broken checkout)"""


def _course():
    "The course package (the student edition, the grader); a student edition has none, and says so."
    try:
        from . import course
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.course":
            raise
        raise CommandError("this copy of videomae_minimal is a student edition of the course: it has no grader and no "
                           "course tools (they stay with the instructor's checkout)") from e
    return course


def cmd_student(args) -> str:
    make_student = _course().make_student
    progress(f"writing the student version of the course to {args.out}")
    made = make_student(Path(args.out), args.source, reference=not args.no_reference)
    return (f"wrote {made['notebooks']} student notebooks ({made['exercises']} exercises, {made['points']:g} points) "
            f"and the package skeleton to {made['out']}")


def cmd_course(args) -> str:
    "Copy the course's notebooks (the core path, then appendix/) out of the installed package into a new folder."
    import shutil

    source, out = course_notebooks(), Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(f"--out {out}: already exists and is not an empty directory; choose a new path")
    names = sorted(p.name for p in source.glob("*.ipynb")), sorted(p.name for p in (source / "appendix").glob("*.ipynb"))
    if not names[0]:
        raise CommandError(f"{source}: no notebooks there (a broken installation? reinstall videomae-minimal)")
    new_folder = _course().new_folder  # complete or not at all

    with new_folder(out) as work:
        (work / "appendix").mkdir()
        for name in names[0]:
            shutil.copyfile(source / name, work / name)
        for name in names[1]:
            shutil.copyfile(source / "appendix" / name, work / "appendix" / name)
    return (f"copied {len(names[0])} notebooks and {len(names[1])} appendices to {out}: start with "
            f"{out / names[0][0]} (jupyter lab {out}). They read their clips and checkpoints from the package: {DATA}")


def cmd_grade(args) -> str:
    grade = _course().grade
    report = grade(Path(args.submission), args.source, timeout=args.timeout, notebooks=args.notebook, progress=progress,
                   jobs=args.jobs, sandbox=not args.no_sandbox)
    for warning in report["warnings"]:
        print(f"videomae-minimal grade: warning: {warning}", file=sys.stderr)
    if not report["sandbox"]:
        print("videomae-minimal grade: graded WITHOUT the sandbox (bubblewrap missing, not working, or --no-sandbox): "
              "student code ran with your user's rights", file=sys.stderr)
    if args.json:
        return json.dumps(report)
    width = max([len(e["name"]) for e in report["exercises"]] + [8])
    lines = [f"{e['notebook']:<30} {e['name']:<{width}} {e['points']:g}/{e['max']:g}  {e['message']}"
             for e in report["exercises"]]
    return "\n".join(lines + [f"total {report['total']:g}/{report['max']:g}"])


def cmd_grade_class(args) -> str:
    grade_class = _course().grade_class
    made = grade_class(Path(args.submissions), Path(args.out), args.source, timeout=args.timeout, notebooks=args.notebook,
                       jobs=args.jobs, force=args.force, progress=progress, sandbox=not args.no_sandbox,
                       students=args.student)
    text = (f"{made['students']} students ({made['graded_now']} graded now): wrote {made['gradebook']}, "
            f"{made['summary']} and a feedback file per student under {Path(made['out']) / 'feedback'}")
    if made["not_graded"]:  # exit status 3: the gradebook is written, but some rows need the instructor
        return (text + f"\nnot graded ({len(made['not_graded'])}, see {made['summary']}): "
                f"{', '.join(made['not_graded'])}", NOT_GRADED_STATUS)
    return text


# `videomae-minimal --help` lists the commands in these groups, in this order (every command in one group).
COMMAND_GROUPS = {
    "look at a video": ("demo", "frames", "synthetic-clip", "classify", "embed", "reconstruct"),
    "check a checkpoint": ("compare", "evaluate"),
    "train": ("make-synthetic", "pretrain", "finetune"),
    "teach": ("course", "student", "grade", "grade-class"),
}


DESCRIPTION = ("VideoMAE built from scratch, with the course that builds it. Its commands, in four groups: look at a "
               "video, check a checkpoint, train, and teach. `videomae-minimal COMMAND --help` tells more of each.")


def _grouped_commands(helps: dict[str, str]) -> str:
    "The top-level help's list of commands: one table, a heading per group, each command's one-line help."
    grouped = [name for names in COMMAND_GROUPS.values() for name in names]
    if sorted(grouped) != sorted(helps):  # a new command must be given a group, or --help would hide it
        raise AssertionError(f"COMMAND_GROUPS lists {sorted(grouped)}, the parser has {sorted(helps)}")
    lines = [textwrap.fill(DESCRIPTION, 100)]
    for group, names in COMMAND_GROUPS.items():
        lines += ["", f"{group}:"]
        lines += [textwrap.fill(helps[name], 100, initial_indent=f"  {name:<15} ", subsequent_indent=" " * 18)
                  for name in names]
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from .version import __version__

    try:
        return version("videomae-minimal")  # the installed distribution's
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videomae-minimal", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)
    parser.usage = "%(prog)s [-h] [--version] COMMAND ..."  # after add_subparsers: the commands' usage stays theirs
    helps, add_parser = {}, sub.add_parser

    def add_command(name: str, **options) -> argparse.ArgumentParser:  # records each help for the grouped list
        helps[name] = options["help"]
        return add_parser(name, **options)

    sub.add_parser = add_command

    demo = sub.add_parser("demo", help="classify the bundled motion clips and draw a reconstruction (offline, seconds)",
                          description="Classify the 8 bundled synthetic motion clips with the bundled tiny fine-tuned "
                                      "checkpoint (top 3 each), and save what the bundled tiny pre-trained checkpoint "
                                      "reconstructs of one clip under a 90%% tube mask. The picture of the Kinetics "
                                      "clip's processed frames is `frames` on the package's data/videos/mmaction2_test_cleaning_pool.mp4 in a clone "
                                      "(`videomae-minimal course --out DIR` prints where the package's data is).")
    demo.add_argument("--out", default=str(Path("out") / "videomae_demo.png"),
                      help="picture to write (default: %(default)s, under the current folder; a clone's git ignores out/)")
    demo.add_argument("--seed", type=integer(0), default=0, help="seed of the mask (default: %(default)s)")
    demo.add_argument("--clip", type=integer(0), default=4, help="which bundled clip to reconstruct, 0-7 (default: %(default)s)")
    demo.set_defaults(run=cmd_demo)

    frames = sub.add_parser("frames", help="sample and process any video; save a picture of the model's input",
                            description="Sample a clip from VIDEO, process it, and save the processed frames as a picture.")
    frames.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    frames.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    frames.add_argument("--num-frames", type=integer(1), default=16, help="frames per clip (default: %(default)s)")
    frames.add_argument("--rate", type=integer(1), default=4, help="sampling rate (default: %(default)s)")
    frames.add_argument("--seed", type=integer(0), default=0, help="seed of the random clip (default: %(default)s)")
    frames.add_argument("--no-autorotate", action="store_true", help=AUTOROTATE_HELP)
    frames.add_argument("--statistics", choices=sorted(STATISTICS), default="imagenet",
                        help="normalisation mean/std: imagenet (published checkpoints) or half (0.5/0.5)")
    frames.set_defaults(run=cmd_frames)

    synth = sub.add_parser("synthetic-clip", help="write a test clip whose frames show their own numbers",
                           description="Write a synthetic clip (a ball crossing a coloured field, with the frame number "
                                       "drawn in binary along the top). The container follows OUT's extension.")
    synth.add_argument("out", help="file to write, e.g. clip.mp4, clip.mkv, clip.avi, clip.webm")
    synth.add_argument("--num-frames", type=integer(1), default=90, help="(default: %(default)s)")
    synth.add_argument("--fps", type=integer(1), default=30, help="(default: %(default)s)")
    synth.add_argument("--size", default="96x160", help="HEIGHTxWIDTH (default: %(default)s)")
    synth.add_argument("--codec", default="libx264", help="FFmpeg encoder: libx264, mpeg4, libvpx-vp9, ... (default: %(default)s)")
    synth.add_argument("--gop-size", type=integer(1), default=None, help="frames between key frames (default: the encoder's)")
    synth.add_argument("--vfr", action="store_true", help="variable frame rate (frames 20 ms and 55 ms apart)")
    synth.set_defaults(run=cmd_synthetic_clip)

    student = sub.add_parser("student", help="write the student version of the course (solutions removed)",
                             description="Write the notebooks with every solution region replaced by "
                                         "`raise NotImplementedError()` and hidden tests removed (outputs cleared, except "
                                         "those of cells that do not depend on the student's code), and a package "
                                         "skeleton exported from them, in which the course's reference stands in for an "
                                         "exercise until the student exports a solved notebook.")
    student.add_argument("--out", required=True, help="directory to create (must not exist, or be empty)")
    student.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    student.add_argument("--no-reference", action="store_true",
                         help="leave out the course's reference (bytecode only, no source), which otherwise stands in "
                              "for the steps a student has not solved yet, so that a student stuck at 03 can run 07")
    student.set_defaults(run=cmd_student)

    course = sub.add_parser("course", help="copy the course's notebooks out of the installed package, to run them",
                            description="Copy the course's notebooks (00-10, then appendix/A1-A4, with their stored "
                                        "outputs) into a new folder, for a learner who installed the package with pip. "
                                        "They find their data (clips, checkpoints, labels) in the installed package.")
    course.add_argument("--out", required=True, help="directory to create (must not exist, or be empty)")
    course.set_defaults(run=cmd_course)

    grade = sub.add_parser("grade", help="grade a submission: each notebook in a fresh kernel, points per exercise",
                           description="Run each submitted notebook in a fresh Jupyter kernel with a time limit per cell, "
                                       "its self-checks replaced by the instructor's (hidden tests included), and report "
                                       "the points of every exercise. A missing, crashing or hanging notebook costs only "
                                       "its own exercises.")
    grade.add_argument("submission", help="directory holding the submitted notebooks (anywhere inside; matched by name and nbgrader metadata)")
    grade.add_argument("--json", action="store_true", help="print one JSON object")
    grade.add_argument("--timeout", type=number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade.add_argument("--jobs", type=integer(1), default=1, help="notebooks graded side by side (default: %(default)s)")
    grade.add_argument("--notebook", action="append", help="grade only this notebook (name or number prefix); repeatable")
    grade.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the kernels without bubblewrap (trusted submissions only)")
    grade.set_defaults(run=cmd_grade)

    grade_class = sub.add_parser("grade-class", help="grade a class: one folder or zip per student -> gradebook.csv, "
                                                     "feedback per student, summary.md",
                                 description=textwrap.fill(  # the epilog's layout is kept: this one is wrapped
                                             "Grade every student in SUBMISSIONS (a subfolder or .zip each, or "
                                             "LMS-named notebooks such as lastname_12345_67890_01_frame_sampling.ipynb) "
                                             "into --out. A student's stored report is reused while their files, "
                                             "the notebooks graded and the grader are unchanged, unless --force.", 79),
                                 epilog=GRADE_CLASS_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade_class.add_argument("submissions", help="folder holding one subfolder or zip per student")
    grade_class.add_argument("--out", required=True, help="results folder (created; re-runs add to it)")
    grade_class.add_argument("--timeout", type=number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade_class.add_argument("--jobs", type=integer(1), default=1, help="students graded side by side (default: %(default)s)")
    grade_class.add_argument("--force", action="store_true", help="grade again students who have results already")
    grade_class.add_argument("--student", action="append",
                             help="grade again only this student (as named in the gradebook), keeping the other "
                                  "rows; repeatable")
    grade_class.add_argument("--notebook", action="append", help="grade only this notebook (name or number prefix); repeatable")
    grade_class.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    grade_class.add_argument("--no-sandbox", action="store_true",
                             help="run the kernels without bubblewrap (trusted submissions only)")
    grade_class.set_defaults(run=cmd_grade_class)

    def checkpoint_options(command):  # what every checkpoint command takes
        command.add_argument("--checkpoint", required=True,
                             help="a transformers directory, a weights file (.safetensors, .bin, original .pth) or a Hub id")
        command.add_argument("--config", help="for a checkpoint without config.json: a config.json file or a preset "
                                              "(small, base, large, huge; the original code's head counts)")
        command.add_argument("--rate", type=integer(1), help="frames between sampled frames (default: the rate the "
                             "checkpoint was trained with, from its training.json; 4 when it records none); a clip too "
                             "short for it is read at the largest rate that fits")
        command.add_argument("--no-autorotate", action="store_true", help=AUTOROTATE_HELP)

    classify = sub.add_parser("classify", help="classify a video with a fine-tuned checkpoint",
                              description="Sample and process VIDEO as the checkpoint's config and preprocessor config say, "
                                          "run the classifier and print the top-k labels (softmax probabilities).")
    classify.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    checkpoint_options(classify)
    classify.add_argument("--top-k", type=integer(1), default=5, help="(default: %(default)s)")
    classify.add_argument("--views", choices=("single", "kinetics"), default="single",
                          help="single: the centre clip, centre crop; kinetics: 5 clips x 3 crops, probabilities averaged")
    classify.add_argument("--labels", help="label names, one per line (default: the checkpoint's id2label)")
    classify.add_argument("--json", action="store_true", help="print one JSON object")
    classify.set_defaults(run=cmd_classify)

    embed = sub.add_parser("embed", help="feature vectors of many clips, to one .npy or .safetensors file (resumable)",
                           description="One vector per clip, what a classifier's head reads (the pooled tokens; for a "
                                       "pre-training checkpoint, the mean of the encoder's tokens), averaged over the "
                                       "views. A stopped run continues where it stopped; an unreadable clip is skipped "
                                       "and named in the record (the .json beside a .npy, or the .safetensors metadata).")
    embed.add_argument("clips", nargs="+", help="video files, folders of videos (recursively) or .txt lists of paths")
    checkpoint_options(embed)
    embed.add_argument("--out", required=True, help="the features file: .npy (with a .json record beside it) or .safetensors")
    embed.add_argument("--views", choices=("single", "kinetics"), default="single",
                       help="single: the centre clip, centre crop; kinetics: 5 clips x 3 crops, averaged")
    embed.set_defaults(run=cmd_embed)

    compare = sub.add_parser("compare", help="load a checkpoint here and in transformers; compare the outputs",
                             description="Run the same checkpoint in videomae_minimal and in transformers on the same input "
                                         "(VIDEO, or seeded noise) and print the largest difference of the logits (and loss). "
                                         "Exit 0 when they match within --atol, 1 when not, 2 on an error.")
    checkpoint_options(compare)
    compare.add_argument("--video", help="a video to use as input (default: seeded random input)")
    compare.add_argument("--atol", type=number(0), default=1e-4, help="(default: %(default)s)")
    compare.add_argument("--seed", type=integer(0), default=0, help="seed of the input and the mask (default: %(default)s)")
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    compare.set_defaults(run=cmd_compare)

    reconstruct = sub.add_parser("reconstruct", help="draw what a pre-training checkpoint reconstructs",
                                 description="Mask a clip of VIDEO with tube masking and draw the original, masked and "
                                             "reconstructed frames of a pre-training checkpoint.")
    reconstruct.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    checkpoint_options(reconstruct)
    reconstruct.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    reconstruct.add_argument("--mask-ratio", type=float, default=0.9, help="(default: %(default)s)")
    reconstruct.add_argument("--seed", type=integer(0), default=0, help="seed of the mask (default: %(default)s)")
    reconstruct.set_defaults(run=cmd_reconstruct)

    # --- training on the synthetic motion task (notebook 10) ---
    make = sub.add_parser("make-synthetic", help="write clips of the synthetic motion task as mp4 files + labels.csv",
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

    def training_options(command, lr: float, warmup: int, batch: int,
                         data_help: str = "a folder with labels.csv and its clips (as make-synthetic writes)"):
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

    pretrain = sub.add_parser("pretrain", help="pre-train a tiny VideoMAE by masked reconstruction (torchrun-ready)",
                              description="Pre-train the tiny VideoMAE of notebook 10 with tube masking. Under torchrun "
                                          "(e.g. torchrun --standalone --nproc_per_node 2 -m videomae_minimal pretrain ...) "
                                          "each process takes a share of every batch; the result is the one-process result.")
    training_options(pretrain, lr=1.5e-3, warmup=100, batch=32)
    pretrain.add_argument("--mask-ratio", type=float, default=0.9, help="(default: %(default)s)")
    pretrain.add_argument("--mask", choices=("tube", "random"), default="tube", help="(default: %(default)s)")
    pretrain.set_defaults(run=cmd_pretrain)

    finetune = sub.add_parser("finetune", help="fine-tune a classifier on your clips (or the motion task), from a "
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
                          help="--synthetic: the new head's initial weights times S (the original: 0.001; default: 1)")
    clip = finetune.add_argument_group("fine-tuning on video files (--data; defaults: the original recipe's). With "
                                       "--synthetic, --mixup, --label-smoothing, --layer-decay and --drop-path apply "
                                       "too, each off unless given")
    clip.add_argument("--workers", type=integer(0), help="DataLoader processes decoding clips, each clip once per "
                                                          "epoch, 2 batches ahead each; 0: in this process (default: 2)")
    clip.add_argument("--sampling", choices=("random", "segments"),
                      help="training frames: random: a random clip of --num-frames frames --rate apart each epoch "
                           "(Kinetics, UCF101); segments: one random frame of each of 16 equal segments (SSv2) "
                           "(default: random)")
    clip.add_argument("--rate", type=integer(1), help="frames between sampled frames, for --sampling random "
                      "(default: the rate --init was trained with, from its training.json; 4 when it records none)")
    clip.add_argument("--no-flip", dest="flip", action="store_const", const=False,
                      help="no random horizontal flip: for labels that name a direction (SSv2's \"left\"/\"right\" "
                           "classes need it: a flipped \"pushing left to right\" is another class)")
    clip.add_argument("--mixup", type=number(0), help="mixup's Beta(alpha, alpha), once per batch; 0: off (default: 0; "
                                                       "the original: 0.8)")
    clip.add_argument("--label-smoothing", type=number(0), help="(default: 0.1)")
    clip.add_argument("--layer-decay", type=number(0, above=True),
                      help="layer-wise lr decay: layer i of L trains at lr * decay^(L + 1 - i) (default: 0.75; UCF101: 0.7)")
    clip.add_argument("--drop-path", type=number(0), help="stochastic depth of the last block (default: 0.1; UCF101: 0.2)")
    clip.add_argument("--accumulate", type=integer(1), help="micro-batches per step: the --batch-size a machine cannot "
                                                              "hold at once, in pieces (default: 1)")
    clip.add_argument("--bf16", action="store_const", const=True, help="bfloat16 autocast in the forward pass (faster "
                                                                        "on CPUs with AMX; weights stay float32)")
    clip.add_argument("--val-fraction", type=number(0), help="share of each class held out when the data gives no "
                                                               "split; 0: none (default: 0.2)")
    clip.add_argument("--eval-views", choices=("single", "multi"),
                      help="evaluation: single: the centre clip, centre crop; multi: the test views (5 clips x 3 crops, "
                           "or 2 x 3 with segments), softmax averaged (default: single)")
    clip.add_argument("--epochs", type=number(0, above=True), help="train this many epochs of the training clips "
                                                                    "(sets --steps)")
    finetune.set_defaults(run=cmd_finetune)

    evaluate_ = sub.add_parser("evaluate", help="accuracy of a classifier on a folder of clips or on new synthetic clips",
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
    parser.description = _grouped_commands(helps)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except KeyboardInterrupt as e:  # a RunInterrupted (a checkpoint was saved), or a Ctrl-C elsewhere
        return report_interrupt(args, argv, e)
    except (CommandError, ValueError, IndexError, OSError) as e:  # VideoReadError and CheckpointError are ValueErrors
        print(f"videomae-minimal {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug or an unforeseen input: still exit 2, never 1 (which means "mismatch" for compare)
        import traceback

        traceback.print_exc()
        print(f"videomae-minimal {args.command}: unexpected error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    text, status = result if isinstance(result, tuple) else (result, 0)
    print(text)
    return status
