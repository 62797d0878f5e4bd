"""The `videomae-minimal` command line (also `python -m videomae_minimal`). The top layer: it only calls the steps."""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from .api import video_probabilities, video_views
from .checkpoint_formats import PRESETS, from_pretrained, save_pretrained
from .classifier import VideoMAEForVideoClassification
from .config import VideoMAEConfig
from .masking import tube_mask
from .pretraining import VideoMAEForPreTraining, masked_pixels, reconstruct_pixels
from .processing import IMAGENET_MEAN, IMAGENET_STD, frames_from_pixel_values, preprocess
from .sampling import plot_frames, sample_frame_indices
from .video import read_video, video_info, write_synthetic_clip
from .training import MODEL_SIZES, MOTIONS, SCENES, TINY, SyntheticMotion, evaluate
from .runs import TrainingArgs, VideoFolder, train, write_motion_dataset
from .finetuning import LAYOUTS, ClipSet, ClipTrainingArgs, read_clips, train_on_clips
from .loop import RunInterrupted
from .sampling_rate import evaluate_at_fitting_rates, fitting_rate, frames_needed, trained_rate

from .bundled import DATA, MOTION_CLIPS, TINY_FINETUNED, TINY_PRETRAINED, course_notebooks

AUTOROTATE_HELP = ("keep the frames as stored: do not turn them as the file's display matrix says "
                   "(a phone video held upright is shown turned; by default the frames are read as a player shows them)")
STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "half": ((0.5,) * 3, (0.5,) * 3)}


NOT_GRADED_STATUS = 3  # grade-class: the gradebook is written, but some students could not be graded
GRADE_CLASS_EXIT_CODES = """exit status:
  0  every student graded (a student's points may still be 0)
  3  the gradebook is written, but some students were not graded (a link, a
     FIFO or an unreadable file in their submission, a corrupt zip, a zip
     bomb, no notebooks): summary.md and their feedback say why; fix it, then
     grade-class --student NAME
  2  nothing graded: a usage error or a problem on the instructor's side (no
     such folder, a broken checkout)"""


class CommandError(Exception):
    "A problem with the user's input, reported as one line and exit status 2."


_START = time.perf_counter()


def _integer(minimum: int):
    "An argparse type: an integer of at least `minimum`. argparse's error names the flag: `argument --rate: ...`."
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _number(minimum: float, above: bool = False):
    "An argparse type: a finite number, at least `minimum` (or above it)."
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise argparse.ArgumentTypeError(f"must be a finite number {'above' if above else 'of at least'} {minimum:g}, "
                                             f"got {text}")
        return value
    return parse


def _json(data) -> str:
    "One JSON object as RFC 8259 allows it: never NaN or Infinity (callers refuse non-finite results before this)."
    return json.dumps(data, allow_nan=False)


def _progress(message: str) -> None:
    "One line per stage on stderr, with the time so far: stdout stays clean for --json."
    print(f"[{time.perf_counter() - _START:5.1f}s] {message}", file=sys.stderr, flush=True)


def _save_figure_atomic(fig, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a picture is an ordinary file
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _frames_picture(video: Path, out: Path, num_frames: int, rate: int, seed: int, statistics: str,
                    autorotate: bool = True) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    info = video_info(video)
    indices = sample_frame_indices(num_frames, rate, info.num_frames, rng=seed)
    frames = read_video(video, indices, autorotate=autorotate)  # (T, H, W, 3) uint8
    mean, std = STATISTICS[statistics]
    pixel_values = preprocess(frames, mean=mean, std=std)  # (T, 3, 224, 224) float32
    shown = frames_from_pixel_values(pixel_values, mean=mean, std=std)  # (T, 224, 224, 3) uint8
    fig = plot_frames(shown, titles=[f"frame {i}" for i in indices],
                      suptitle=f"{video.name}: {num_frames} frames (rate {rate}, seed {seed}) as the model sees them")
    _save_figure_atomic(fig, out)
    plt.close(fig)
    turned = (f" (stored {info.width}x{info.height}, turned {info.rotation} degrees{', mirrored' if info.mirrored else ''}"
              f"{'' if autorotate else '; kept as stored: --no-autorotate'})" if info.rotation or info.mirrored else "")
    return (f"{video.name}: {info.num_frames} frames, {info.display_width}x{info.display_height}{turned}, {info.codec}\n"
            f"sampled frames {indices.tolist()}\n"
            f"pixel_values {tuple(pixel_values.shape)} {pixel_values.dtype}, {statistics} mean/std\n"
            f"wrote {out}")


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CommandError(f"{path}: no such file")
    return p


def cmd_frames(args) -> str:
    return _frames_picture(_existing_file(args.video), Path(args.out), args.num_frames, args.rate, args.seed,
                           args.statistics, not args.no_autorotate)


def cmd_synthetic_clip(args) -> str:
    try:
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 96x160 (height x width), got {args.size!r}") from None
    path = write_synthetic_clip(args.out, num_frames=args.num_frames, fps=args.fps, size=(height, width),
                                codec=args.codec, gop_size=args.gop_size, variable_frame_rate=args.vfr)
    return f"wrote {path}: {video_info(path).num_frames} frames, {width}x{height}, {args.codec}"



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
    _progress(f"writing the student version of the course to {args.out}")
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
    report = grade(Path(args.submission), args.source, timeout=args.timeout, notebooks=args.notebook, progress=_progress,
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
                       jobs=args.jobs, force=args.force, progress=_progress, sandbox=not args.no_sandbox,
                       students=args.student)
    text = (f"{made['students']} students ({made['graded_now']} graded now): wrote {made['gradebook']}, "
            f"{made['summary']} and a feedback file per student under {Path(made['out']) / 'feedback'}")
    if made["not_graded"]:  # exit status 3: the gradebook is written, but some rows need the instructor
        return (text + f"\nnot graded ({len(made['not_graded'])}, see {made['summary']}): "
                f"{', '.join(made['not_graded'])}", NOT_GRADED_STATUS)
    return text


def _load(checkpoint: str, want=None, config: str | None = None):
    _progress(f"loading {checkpoint}")
    if config is not None and config not in PRESETS:
        config = VideoMAEConfig.from_json_file(_existing_file(config))
    model = from_pretrained(checkpoint, config=config, dtype=torch.float32)  # CPU arithmetic, whatever it was saved in
    if want is not None and not isinstance(model, want):
        raise CommandError(f"{checkpoint}: a {type(model).__name__} checkpoint; this command needs a {want.__name__} one")
    return model


def _clip_rate(video: Path, model, checkpoint: str, rate: int | None, progress=_progress) -> int:
    """The rate to read `video` at: --rate, else the one the checkpoint was trained with; the largest rate that fits
    when the clip is too short for it (said on stderr, naming the clip and the frames it has and needs)."""
    if rate is None:
        rate, why, _ = trained_rate(checkpoint)
        if progress:
            progress(f"sampling rate {rate} ({why})")
    clip_len, available = model.config.num_frames, video_info(video).num_frames
    fitted = fitting_rate(available, clip_len, rate)
    if 1 < available < clip_len:
        print(f"notice: {video}: {available} frames, fewer than the {clip_len} the model takes: read at rate 1, its "
              "last frame repeated", file=sys.stderr)
    elif fitted != rate:
        print(f"notice: {video}: {available} frames; rate {rate} needs {frames_needed(clip_len, rate)} ({clip_len} "
              f"frames {rate} apart): read at rate {fitted} instead, the largest that fits", file=sys.stderr)
    return fitted


def _views(video: Path, model, views: str, rate: int | None, autorotate: bool, checkpoint: str
           ) -> tuple[torch.Tensor, np.ndarray]:
    "The test protocol's views of `video` as the checkpoint wants them (api.video_views), with a progress line."
    _progress(f"reading {video.name}")
    return video_views(video, model, views, _clip_rate(video, model, checkpoint, rate), autorotate)


def _predict(video: Path, model, views: str, rate: int | None, top_k: int, labels: dict[int, str], checkpoint: str,
             autorotate: bool = True, progress=_progress) -> list[dict]:
    """The top-k labels of `video` with their softmax probabilities, averaged over the test protocol's views; read at
    `rate`, or (None) the rate the checkpoint was trained with. `progress=None`: no progress lines."""
    if progress:
        progress(f"reading {video.name}")
    if video_info(video).num_frames == 1:
        print(f"warning: {video} has a single frame (an image, or a one-frame video): it is classified as a still "
              "clip, that frame repeated, so no motion can inform the prediction", file=sys.stderr)
    rate = _clip_rate(video, model, checkpoint, rate, progress)
    mean = video_probabilities(video, model, views, rate, progress=progress, autorotate=autorotate)  # (num_labels,)
    if not torch.isfinite(mean).all():
        raise CommandError(f"{checkpoint}: the model's outputs on {video} are not finite numbers (NaN or Inf): "
                           "its weights are broken")
    top = mean.topk(min(top_k, len(mean)))
    return [{"id": int(i), "label": labels[int(i)], "score": float(p)} for p, i in zip(top.values, top.indices)]


def cmd_classify(args) -> str:
    video = _existing_file(args.video)
    model = _load(args.checkpoint, VideoMAEForVideoClassification, args.config)
    labels = model.config.id2label
    if args.labels:
        names = [line.strip() for line in _existing_file(args.labels).read_text(encoding="utf-8").splitlines()
                 if line.strip()]  # blank lines (a trailing one, above all) are not labels
        if len(names) != model.config.num_labels:
            raise CommandError(f"{args.labels}: {len(names)} labels, but the checkpoint has {model.config.num_labels} classes")
        labels = dict(enumerate(names))
    predictions = _predict(video, model, args.views, args.rate, args.top_k, labels, args.checkpoint,
                           not args.no_autorotate)
    if args.json:
        return _json({"video": str(video), "checkpoint": args.checkpoint, "predictions": predictions})
    return "\n".join(f"{p['score']:7.2%}  {p['label']} ({p['id']})" for p in predictions)


def _reference_folder(checkpoint: str, model, folder: Path, own_config: bool) -> str:
    "Where transformers can load the same weights: the checkpoint itself, or a copy in its published names."
    path = Path(checkpoint)
    if not own_config and ((path.is_dir() and (path / "config.json").is_file()) or not path.exists()):
        return checkpoint  # a transformers directory or a Hub id: transformers reads it itself
    return str(save_pretrained(model, folder))


def cmd_compare(args) -> tuple[str, int]:
    try:
        import transformers
    except ImportError:
        raise CommandError("compare needs transformers as the reference: pip install transformers "
                           "(or pip install 'videomae-minimal[dev]')") from None
    transformers.logging.set_verbosity_error()
    ours = _load(args.checkpoint, config=args.config)
    config = ours.config
    if args.video:
        pixel_values, _ = _views(_existing_file(args.video), ours, "single", args.rate, not args.no_autorotate,
                                 args.checkpoint)
    else:
        generator = torch.Generator().manual_seed(args.seed)
        pixel_values = torch.randn(1, config.num_frames, config.num_channels, config.image_size, config.image_size, generator=generator)
    mask = tube_mask(len(pixel_values), config.grid, 0.9, generator=torch.Generator().manual_seed(args.seed))
    with tempfile.TemporaryDirectory() as folder:
        source = _reference_folder(args.checkpoint, ours, Path(folder), own_config=args.config is not None)
        _progress(f"loading the same checkpoint with transformers {transformers.__version__}")
        theirs = getattr(transformers, type(ours).__name__).from_pretrained(  # float32 whatever dtype it was saved in
            source, attn_implementation="sdpa", dtype=torch.float32).eval()
    _progress("running both")
    with torch.no_grad():
        if isinstance(ours, VideoMAEForPreTraining):
            a, b = ours(pixel_values, mask), theirs(pixel_values, bool_masked_pos=mask)
            diffs = {"logits": (a.logits - b.logits).abs().max().item(), "loss": abs(a.loss.item() - b.loss.item())}
        elif isinstance(ours, VideoMAEForVideoClassification):
            diffs = {"logits": (ours(pixel_values).logits - theirs(pixel_values).logits).abs().max().item()}
        else:
            diffs = {"last_hidden_state": (ours(pixel_values).last_hidden_state - theirs(pixel_values).last_hidden_state).abs().max().item()}
    broken = [name for name, d in diffs.items() if not math.isfinite(d)]
    if broken:
        raise CommandError(f"{args.checkpoint}: the {' and '.join(broken)} are not finite numbers (NaN or Inf) here or in "
                           "transformers: its weights are broken, and there is nothing to compare")
    match = all(d <= args.atol for d in diffs.values())
    if args.json:
        text = _json({"checkpoint": args.checkpoint, "video": args.video, "model": type(ours).__name__, "atol": args.atol,
                           "max_abs_diff": diffs, "match": match})
    else:
        text = "\n".join(f"{name}: max |difference| {d:.2e} {'<=' if d <= args.atol else '>'} atol {args.atol:g}"
                          + ("" if d <= args.atol else "  MISMATCH") for name, d in diffs.items())
        text += f"\n{type(ours).__name__}: {'match' if match else 'DO NOT MATCH'} transformers {transformers.__version__}"
    return text, 0 if match else 1


def cmd_reconstruct(args) -> str:
    video = _existing_file(args.video)
    if not 0 <= args.mask_ratio < 1:
        raise CommandError(f"--mask-ratio must be in [0, 1), got {args.mask_ratio}")
    model = _load(args.checkpoint, VideoMAEForPreTraining, args.config)
    loss, masked = _reconstruction_picture(video, model, Path(args.out), args.mask_ratio, args.seed,
                                           _clip_rate(video, model, args.checkpoint, args.rate), not args.no_autorotate)
    return f"loss {loss:.4f} over {masked} masked tubelets\nwrote {args.out}"


def _reconstruction_picture(video: Path, model, out_path: Path, mask_ratio: float, seed: int, rate: int,
                            autorotate: bool = True, who: str = "the checkpoint") -> tuple[float, int]:
    "Draw the original, masked and reconstructed frames of a clip of `video`; return the loss and the masked count."
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = model.config
    _progress(f"reading {video.name}")
    pixel_values, views = video_views(video, model, "single", rate, autorotate)  # (1, T, C, S, S)
    mask = tube_mask(1, config.grid, mask_ratio, generator=torch.Generator().manual_seed(seed))
    _progress("reconstructing")
    with torch.no_grad():
        out = model(pixel_values, mask)
    pp = model.preprocessor_config
    guess = reconstruct_pixels(pixel_values, out.logits, mask, config)[0]  # (T, C, S, S) in [0, 1]
    original = frames_from_pixel_values(pixel_values[0], mean=pp.mean, std=pp.std)  # (T, S, S, 3) uint8
    hidden = masked_pixels(mask, config)[0].numpy()  # (T, S, S)
    masked = np.where(hidden[..., None], 128, original).astype(np.uint8)
    rebuilt = (guess.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    shown = np.linspace(0, config.num_frames - 1, min(8, config.num_frames)).astype(int)
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(3, len(shown), figsize=(2 * len(shown), 7.2), squeeze=False)
    small = config.image_size < 96  # tiny frames: show their pixels, not a blur
    rows = [("original", original), (f"input: {mask_ratio:.0%} hidden", masked), ("reconstructed", rebuilt)]
    for r, (name, frames) in enumerate(rows):
        for c, f in enumerate(shown):
            ax = axes[r, c]
            ax.imshow(frames[f], interpolation="nearest" if small else None)
            ax.set_xticks([]), ax.set_yticks([])  # axis off would hide the row's label too
            if r == 0:
                ax.set_title(f"frame {views[0][f]}", fontsize=11)
        axes[r, 0].set_ylabel(name, fontsize=12)
    fig.suptitle(f"{video.name}: what {who} rebuilds from the {1 - mask_ratio:.0%} of its tubelets it sees\n"
                 f"(loss {out.loss.item():.4f}: the mean squared error of its guess at the hidden tubelets)",
                 fontsize=13)
    fig.legend(handles=[Patch(facecolor=(0.5, 0.5, 0.5), edgecolor="black", label="grey: hidden (masked tubelets)")],
               loc="lower center", ncol=1, fontsize=11, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save_figure_atomic(fig, out_path)
    plt.close(fig)
    return out.loss.item(), int(mask.sum())


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
            _progress(f"clip {int(indices[0]) + 1} of {len(self.data)}")
        return self.data.clips(indices)


def cmd_make_synthetic(args) -> str:
    if args.size % 2:
        raise CommandError(f"--size must be an even number of pixels >= 8, got {args.size}")
    data = SyntheticMotion(args.num, args.seed, args.frames, args.size)
    _progress(f"writing {args.num} clips of {args.frames} frames, {args.size}x{args.size}, seed {args.seed}")
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
        _progress(f"sampling rate {knobs['rate']} ({why}); training and evaluation read the clips at it")
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
        _progress(f"{knobs['epochs']} epochs of {len(train_clips)} training clips: {training_args.steps} steps")
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
    model = _load(args.checkpoint, VideoMAEForVideoClassification)
    config = model.config
    trained = trained_rate(args.checkpoint)
    if args.data is not None and (args.rate is not None or trained.video_files):
        return _evaluate_video_files(args, model, trained)
    if args.rate is not None:
        raise CommandError("--rate applies to --data (video files); --synthetic clips are made at the model's frames")
    if args.data is not None:  # as a motion-task run reads them: each clip's frames spread over it (consecutive here)
        _progress(f"reading the clips listed in {Path(args.data) / 'labels.csv'}")
        data = VideoFolder(args.data, config.num_frames, config.image_size)
    else:
        data = SyntheticMotion(args.synthetic, args.seed, config.num_frames, config.image_size, args.scene)
    _progress(f"evaluating on {len(data)} clips")
    return _accuracy_report(evaluate(model, data, batch_size=args.batch_size), args.json)


def _evaluate_video_files(args, model, trained) -> str:
    "evaluate --data for a checkpoint trained on video files (or given --rate): every clip, in any of LAYOUTS."
    rate = args.rate if args.rate is not None else trained.rate
    _progress(f"sampling rate {rate} ({'--rate' if args.rate is not None else trained.why})")
    if not Path(args.data).exists():
        raise CommandError(f"--data {args.data}: no such folder or list file; expected " + "; ".join(LAYOUTS))
    train_clips, val_clips = read_clips(args.data)
    clips = train_clips if val_clips is None else ClipSet(
        train_clips.files + val_clips.files, np.concatenate([train_clips.labels, val_clips.labels]),
        train_clips.label_names, np.concatenate([train_clips.frame_counts, val_clips.frame_counts]), train_clips.layout)
    _progress(f"evaluating on {len(clips)} clips")
    result, notices = evaluate_at_fitting_rates(model, clips, rate, args.batch_size)
    for notice in notices:
        print(f"notice: {notice}, the largest rate that fits", file=sys.stderr)
    return _accuracy_report(result, args.json)


def _accuracy_report(result: dict, as_json: bool) -> str:
    if as_json:
        return _json(result)
    lines = [f"accuracy {result['accuracy']:.4f} on {result['n']} clips"]
    lines += [f"  {name:<24} {accuracy:.3f}" for name, accuracy in result["per_class"].items()]
    return "\n".join(lines)


def cmd_demo(args) -> str:
    missing = [p for p in (MOTION_CLIPS / "labels.csv", TINY_FINETUNED / "model.safetensors",
                           TINY_PRETRAINED / "model.safetensors") if not p.is_file()]
    if missing:
        raise CommandError(f"bundled files are missing ({', '.join(map(str, missing))}): this installation of "
                           "videomae_minimal lacks its package data; reinstall it (pip install --force-reinstall)")
    classifier = _load(str(TINY_FINETUNED), VideoMAEForVideoClassification)
    rows = [line.split(",") for line in (MOTION_CLIPS / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]]
    lines = [f"The tiny VideoMAE fine-tuned on the motion task (the package's {TINY_FINETUNED.relative_to(DATA.parent)}), "
             f"on the {len(rows)} bundled clips of {MOTION_CLIPS.relative_to(DATA.parent)}:"]
    correct = 0
    _progress(f"classifying the {len(rows)} bundled clips")  # one line: the results follow, on stdout
    for name, _, truth in rows:
        predictions = _predict(MOTION_CLIPS / name, classifier, "single", None, 3, classifier.config.id2label,
                               str(TINY_FINETUNED), progress=None)
        correct += predictions[0]["label"] == truth
        top = ", ".join(f"{p['label']} {p['score']:.0%}" for p in predictions)
        lines.append(f"  {name:<34} {'ok   ' if predictions[0]['label'] == truth else 'WRONG'} top 3: {top}")
    lines.append(f"{correct} of {len(rows)} correct")
    pretrained = _load(str(TINY_PRETRAINED), VideoMAEForPreTraining)
    clip = MOTION_CLIPS / rows[args.clip % len(rows)][0]
    rate = _clip_rate(clip, pretrained, str(TINY_PRETRAINED), None)
    loss, masked = _reconstruction_picture(clip, pretrained, Path(args.out), 0.9, args.seed, rate,
                                           who="the tiny pre-trained VideoMAE")
    lines.append(f"The tiny pre-trained VideoMAE (the package's {TINY_PRETRAINED.relative_to(DATA.parent)}) rebuilt {clip.name} from "
                 f"10% of its tubelets: loss {loss:.4f} over {masked} masked tubelets")
    lines.append(f"wrote {Path(args.out).resolve()}")
    return "\n".join(lines)


# `videomae-minimal --help` lists the commands in these groups, in this order (every command in one group).
COMMAND_GROUPS = {
    "look at a video": ("demo", "frames", "synthetic-clip", "classify", "reconstruct"),
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

    from . import __version__

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
    demo.add_argument("--seed", type=_integer(0), default=0, help="seed of the mask (default: %(default)s)")
    demo.add_argument("--clip", type=_integer(0), default=4, help="which bundled clip to reconstruct, 0-7 (default: %(default)s)")
    demo.set_defaults(run=cmd_demo)

    frames = sub.add_parser("frames", help="sample and process any video; save a picture of the model's input",
                            description="Sample a clip from VIDEO, process it, and save the processed frames as a picture.")
    frames.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    frames.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    frames.add_argument("--num-frames", type=_integer(1), default=16, help="frames per clip (default: %(default)s)")
    frames.add_argument("--rate", type=_integer(1), default=4, help="sampling rate (default: %(default)s)")
    frames.add_argument("--seed", type=_integer(0), default=0, help="seed of the random clip (default: %(default)s)")
    frames.add_argument("--no-autorotate", action="store_true", help=AUTOROTATE_HELP)
    frames.add_argument("--statistics", choices=sorted(STATISTICS), default="imagenet",
                        help="normalisation mean/std: imagenet (published checkpoints) or half (0.5/0.5)")
    frames.set_defaults(run=cmd_frames)

    synth = sub.add_parser("synthetic-clip", help="write a test clip whose frames show their own numbers",
                           description="Write a synthetic clip (a ball crossing a coloured field, with the frame number "
                                       "drawn in binary along the top). The container follows OUT's extension.")
    synth.add_argument("out", help="file to write, e.g. clip.mp4, clip.mkv, clip.avi, clip.webm")
    synth.add_argument("--num-frames", type=_integer(1), default=90, help="(default: %(default)s)")
    synth.add_argument("--fps", type=_integer(1), default=30, help="(default: %(default)s)")
    synth.add_argument("--size", default="96x160", help="HEIGHTxWIDTH (default: %(default)s)")
    synth.add_argument("--codec", default="libx264", help="FFmpeg encoder: libx264, mpeg4, libvpx-vp9, ... (default: %(default)s)")
    synth.add_argument("--gop-size", type=_integer(1), default=None, help="frames between key frames (default: the encoder's)")
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
    grade.add_argument("--timeout", type=_number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade.add_argument("--jobs", type=_integer(1), default=1, help="notebooks graded side by side (default: %(default)s)")
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
    grade_class.add_argument("--timeout", type=_number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade_class.add_argument("--jobs", type=_integer(1), default=1, help="students graded side by side (default: %(default)s)")
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
        command.add_argument("--rate", type=_integer(1), help="frames between sampled frames (default: the rate the "
                             "checkpoint was trained with, from its training.json; 4 when it records none); a clip too "
                             "short for it is read at the largest rate that fits")
        command.add_argument("--no-autorotate", action="store_true", help=AUTOROTATE_HELP)

    classify = sub.add_parser("classify", help="classify a video with a fine-tuned checkpoint",
                              description="Sample and process VIDEO as the checkpoint's config and preprocessor config say, "
                                          "run the classifier and print the top-k labels (softmax probabilities).")
    classify.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    checkpoint_options(classify)
    classify.add_argument("--top-k", type=_integer(1), default=5, help="(default: %(default)s)")
    classify.add_argument("--views", choices=("single", "kinetics"), default="single",
                          help="single: the centre clip, centre crop; kinetics: 5 clips x 3 crops, probabilities averaged")
    classify.add_argument("--labels", help="label names, one per line (default: the checkpoint's id2label)")
    classify.add_argument("--json", action="store_true", help="print one JSON object")
    classify.set_defaults(run=cmd_classify)

    compare = sub.add_parser("compare", help="load a checkpoint here and in transformers; compare the outputs",
                             description="Run the same checkpoint in videomae_minimal and in transformers on the same input "
                                         "(VIDEO, or seeded noise) and print the largest difference of the logits (and loss). "
                                         "Exit 0 when they match within --atol, 1 when not, 2 on an error.")
    checkpoint_options(compare)
    compare.add_argument("--video", help="a video to use as input (default: seeded random input)")
    compare.add_argument("--atol", type=_number(0), default=1e-4, help="(default: %(default)s)")
    compare.add_argument("--seed", type=_integer(0), default=0, help="seed of the input and the mask (default: %(default)s)")
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    compare.set_defaults(run=cmd_compare)

    reconstruct = sub.add_parser("reconstruct", help="draw what a pre-training checkpoint reconstructs",
                                 description="Mask a clip of VIDEO with tube masking and draw the original, masked and "
                                             "reconstructed frames of a pre-training checkpoint.")
    reconstruct.add_argument("video", help="a video file (mp4, mkv, avi, webm, ...)")
    checkpoint_options(reconstruct)
    reconstruct.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    reconstruct.add_argument("--mask-ratio", type=float, default=0.9, help="(default: %(default)s)")
    reconstruct.add_argument("--seed", type=_integer(0), default=0, help="seed of the mask (default: %(default)s)")
    reconstruct.set_defaults(run=cmd_reconstruct)

    # --- training on the synthetic motion task (notebook 10) ---
    make = sub.add_parser("make-synthetic", help="write clips of the synthetic motion task as mp4 files + labels.csv",
                          description=f"Write NUM clips of the 8-motion task ({', '.join(MOTIONS)}) into OUT_DIR as "
                                      "H.264 4:4:4 mp4 files (lossless in YUV) named <index>_<motion>.mp4, then "
                                      "labels.csv (file,label,label_name). Clip i is drawn from (SEED, i): the files "
                                      "hold the clips that training generates in memory.")
    make.add_argument("out_dir", help="folder to write (created if needed)")
    make.add_argument("--num", type=_integer(1), required=True, help="number of clips (labels cycle through the 8 motions)")
    make.add_argument("--seed", type=_integer(0), default=0, help="(default: %(default)s)")
    make.add_argument("--frames", type=_integer(1), default=TINY["num_frames"], help="frames per clip (default: %(default)s)")
    make.add_argument("--size", type=_integer(8), default=TINY["image_size"], help="frame height and width (default: %(default)s)")
    make.add_argument("--overwrite", action="store_true", help="write into a folder that already holds a labels.csv")
    make.set_defaults(run=cmd_make_synthetic)

    def training_options(command, lr: float, warmup: int, batch: int,
                         data_help: str = "a folder with labels.csv and its clips (as make-synthetic writes)"):
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", help=data_help)
        source.add_argument("--synthetic", type=_integer(1), metavar="N", help="N clips of the motion task, made in memory from --seed")
        command.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, and at the end the model "
                                                          "(config.json, model.safetensors, preprocessor_config.json) and training.json")
        command.add_argument("--steps", type=_integer(1), default=1000, help="(default: %(default)s)")
        command.add_argument("--batch-size", type=_integer(1), default=batch, help="global batch, split over torchrun's processes (default: %(default)s)")
        command.add_argument("--lr", type=_number(0, above=True), default=lr, help="peak learning rate (default: %(default)s)")
        command.add_argument("--warmup-steps", type=_integer(0), default=warmup, help="(default: %(default)s)")
        command.add_argument("--weight-decay", type=_number(0), default=0.05, help="(default: %(default)s)")
        command.add_argument("--seed", type=_integer(0), default=0, help="seeds the model, data order, masks and synthetic clips (default: %(default)s)")
        command.add_argument("--scene", choices=SCENES, default="gradient", help="--synthetic clips' background: a colour "
                             "with a brightness gradient, or flat with pixel noise (make findings) (default: %(default)s)")
        command.add_argument("--model", choices=sorted(MODEL_SIZES), default="tiny", help="sizes of a model trained from "
                             "scratch: tiny (16 frames, 8x8 patches) or miniature (8 frames, 4x4 patches: make findings) "
                             "(default: %(default)s)")
        held_out = command.add_mutually_exclusive_group()
        held_out.add_argument("--eval-data", help="a folder to evaluate on (default with --synthetic: 256 new clips, seed + 1000000)")
        held_out.add_argument("--eval-synthetic", type=_integer(0), metavar="N", help="evaluate on N new clips (seed + 1000000); 0: none")
        command.add_argument("--eval-every", type=_integer(0), default=100, help="steps between evaluations; 0: only at the end (default: %(default)s)")
        command.add_argument("--checkpoint-every", type=_integer(0), default=500, help="steps between checkpoints; 0: only at the end (default: %(default)s)")
        command.add_argument("--log-every", type=_integer(1), default=10, help="steps between log lines (default: %(default)s)")
        command.add_argument("--resume", nargs="?", const=True, metavar="CHECKPOINT",
                             help="continue the run in --out from its latest checkpoint (or from CHECKPOINT)")
        command.add_argument("--stop-at", type=_integer(1), metavar="STEP", help="stop at STEP with a checkpoint, as if interrupted")
        command.add_argument("--threads", type=_integer(1), help="torch threads per process (default: torch's choice)")
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
    few.add_argument("--num-labelled", type=_integer(1), help="train on a seeded subset of this many labelled clips")
    few.add_argument("--labels-per-class", type=_integer(1), metavar="K", help="train on a seeded subset of exactly K clips of each class")
    finetune.add_argument("--linear-probe", action="store_true",
                          help="freeze the encoder and train only fc_norm and the head (a linear probe); with --init none the "
                               "encoder is a random one: the control that says what a probe reads without pre-training")
    finetune.add_argument("--single-frame", action="store_true",
                          help="freeze every clip at one random frame: the baseline that cannot see motion")
    finetune.add_argument("--augment", action="store_true",
                          help="--synthetic: mirror, reverse and shift clips, renaming their labels to match")
    finetune.add_argument("--head-init-scale", type=_number(0, above=True), metavar="S",
                          help="--synthetic: the new head's initial weights times S (the original: 0.001; default: 1)")
    clip = finetune.add_argument_group("fine-tuning on video files (--data; defaults: the original recipe's). With "
                                       "--synthetic, --mixup, --label-smoothing, --layer-decay and --drop-path apply "
                                       "too, each off unless given")
    clip.add_argument("--workers", type=_integer(0), help="DataLoader processes decoding clips, each clip once per "
                                                          "epoch, 2 batches ahead each; 0: in this process (default: 2)")
    clip.add_argument("--sampling", choices=("random", "segments"),
                      help="training frames: random: a random clip of --num-frames frames --rate apart each epoch "
                           "(Kinetics, UCF101); segments: one random frame of each of 16 equal segments (SSv2) "
                           "(default: random)")
    clip.add_argument("--rate", type=_integer(1), help="frames between sampled frames, for --sampling random "
                      "(default: the rate --init was trained with, from its training.json; 4 when it records none)")
    clip.add_argument("--no-flip", dest="flip", action="store_const", const=False,
                      help="no random horizontal flip: for labels that name a direction (SSv2's \"left\"/\"right\" "
                           "classes need it: a flipped \"pushing left to right\" is another class)")
    clip.add_argument("--mixup", type=_number(0), help="mixup's Beta(alpha, alpha), once per batch; 0: off (default: 0; "
                                                       "the original: 0.8)")
    clip.add_argument("--label-smoothing", type=_number(0), help="(default: 0.1)")
    clip.add_argument("--layer-decay", type=_number(0, above=True),
                      help="layer-wise lr decay: layer i of L trains at lr * decay^(L + 1 - i) (default: 0.75; UCF101: 0.7)")
    clip.add_argument("--drop-path", type=_number(0), help="stochastic depth of the last block (default: 0.1; UCF101: 0.2)")
    clip.add_argument("--accumulate", type=_integer(1), help="micro-batches per step: the --batch-size a machine cannot "
                                                              "hold at once, in pieces (default: 1)")
    clip.add_argument("--bf16", action="store_const", const=True, help="bfloat16 autocast in the forward pass (faster "
                                                                        "on CPUs with AMX; weights stay float32)")
    clip.add_argument("--val-fraction", type=_number(0), help="share of each class held out when the data gives no "
                                                               "split; 0: none (default: 0.2)")
    clip.add_argument("--eval-views", choices=("single", "multi"),
                      help="evaluation: single: the centre clip, centre crop; multi: the test views (5 clips x 3 crops, "
                           "or 2 x 3 with segments), softmax averaged (default: single)")
    clip.add_argument("--epochs", type=_number(0, above=True), help="train this many epochs of the training clips "
                                                                    "(sets --steps)")
    finetune.set_defaults(run=cmd_finetune)

    evaluate_ = sub.add_parser("evaluate", help="accuracy of a classifier on a folder of clips or on new synthetic clips",
                               description="Classify every clip and print the accuracy, overall and per class.")
    evaluate_.add_argument("--checkpoint", required=True, help="a fine-tuned checkpoint folder")
    source = evaluate_.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="a folder with labels.csv and its clips")
    source.add_argument("--synthetic", type=_integer(1), metavar="N", help="N new clips of the motion task, from --seed")
    evaluate_.add_argument("--seed", type=_integer(0), default=1, help="seed of the --synthetic clips (default: %(default)s)")
    evaluate_.add_argument("--scene", choices=SCENES, default="gradient", help="background of the --synthetic clips (default: %(default)s)")
    evaluate_.add_argument("--batch-size", type=_integer(1), default=64, help="(default: %(default)s)")
    evaluate_.add_argument("--rate", type=_integer(1), help="--data: frames between sampled frames, the centre clip of "
                           "each video (default: as the checkpoint was trained: its training.json's rate for a run on "
                           "video files; a motion-task run's clips are read as it read them)")
    evaluate_.add_argument("--json", action="store_true", help='print {"accuracy": float, "n": int, "per_class": {...}}')
    evaluate_.set_defaults(run=cmd_evaluate)
    parser.description = _grouped_commands(helps)
    return parser


def _resume_command(argv: list[str], args) -> str:
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


def _interrupted(args, argv: list[str], e: KeyboardInterrupt) -> int:
    "Ctrl-C: one message, no traceback, exit status 130 (128 + SIGINT), as a shell reports a Ctrl-C."
    if isinstance(e, RunInterrupted) and e.checkpoint is not None:
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C) after step {e.step} of {e.total}; saved "
              f"{e.checkpoint}\ncontinue with: {_resume_command(argv, args)}", file=sys.stderr)
    elif args.command in ("pretrain", "finetune") and Path(args.out).is_dir() and any(Path(args.out).glob("checkpoint-*")):
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C); the last checkpoint in {args.out} is kept\n"
              f"continue with: {_resume_command(argv, args)}", file=sys.stderr)
    else:
        print(f"videomae-minimal {args.command}: interrupted (Ctrl-C)" +
              ("; no step was done, nothing to resume" if args.command in ("pretrain", "finetune") else ""),
              file=sys.stderr)
    return 130


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except KeyboardInterrupt as e:  # a RunInterrupted (a checkpoint was saved), or a Ctrl-C elsewhere
        return _interrupted(args, argv, e)
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
