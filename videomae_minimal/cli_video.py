"""The commands that look at a video or check a checkpoint on one: frames, synthetic-clip, classify, compare,
reconstruct, and the demo. A clip is read at the rate its checkpoint was trained with (sampling_rate.py) unless
--rate says otherwise. Hand-written (no notebook): the command line."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from .api import compare_with_transformers, video_probabilities, video_views
from .bundled import DATA, MOTION_CLIPS, TINY_FINETUNED, TINY_PRETRAINED
from .classifier import VideoMAEForVideoClassification
from .cli_common import CommandError, existing_file, load_model, progress, save_figure_atomic, to_json
from .masking import tube_mask
from .pretraining import VideoMAEForPreTraining, masked_pixels, reconstruct_pixels
from .runs import read_labels
from .processing import IMAGENET_MEAN, IMAGENET_STD, frames_from_pixel_values, preprocess
from .sampling import plot_frames, sample_frame_indices
from .sampling_rate import fitting_rate, frames_needed, trained_rate
from .video import read_video, video_info, write_synthetic_clip

__all__ = ["AUTOROTATE_HELP", "STATISTICS", "clip_rate", "cmd_frames", "cmd_synthetic_clip", "cmd_classify",
           "cmd_compare", "cmd_reconstruct", "cmd_demo"]


AUTOROTATE_HELP = ("keep the frames as stored: do not turn them as the file's display matrix says "
                   "(a phone video held upright is shown turned; by default the frames are read as a player shows them)")


STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "half": ((0.5,) * 3, (0.5,) * 3)}


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
    save_figure_atomic(fig, out)
    plt.close(fig)
    turned = (f" (stored {info.width}x{info.height}, turned {info.rotation} degrees{', mirrored' if info.mirrored else ''}"
              f"{'' if autorotate else '; kept as stored: --no-autorotate'})" if info.rotation or info.mirrored else "")
    return (f"{video.name}: {info.num_frames} frames, {info.display_width}x{info.display_height}{turned}, {info.codec}\n"
            f"sampled frames {indices.tolist()}\n"
            f"pixel_values {tuple(pixel_values.shape)} {pixel_values.dtype}, {statistics} mean/std\n"
            f"wrote {out}")


def cmd_frames(args) -> str:
    return _frames_picture(existing_file(args.video), Path(args.out), args.num_frames, args.rate, args.seed,
                           args.statistics, not args.no_autorotate)


def cmd_synthetic_clip(args) -> str:
    try:
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 96x160 (height x width), got {args.size!r}") from None
    path = write_synthetic_clip(args.out, num_frames=args.num_frames, fps=args.fps, size=(height, width),
                                codec=args.codec, gop_size=args.gop_size, variable_frame_rate=args.vfr)
    return f"wrote {path}: {video_info(path).num_frames} frames, {width}x{height}, {args.codec}"


def clip_rate(video: Path, model, checkpoint: str, rate: int | None, report=progress) -> int:
    """The rate to read `video` at: --rate, else the one the checkpoint was trained with; the largest rate that fits
    when the clip is too short for it (said on stderr, naming the clip and the frames it has and needs)."""
    if rate is None:
        rate, why, _ = trained_rate(checkpoint)
        if report:
            report(f"sampling rate {rate} ({why})")
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
    progress(f"reading {video.name}")
    return video_views(video, model, views, clip_rate(video, model, checkpoint, rate), autorotate)


def _predict(video: Path, model, views: str, rate: int | None, top_k: int, labels: dict[int, str], checkpoint: str,
             autorotate: bool = True, report=progress) -> list[dict]:
    """The top-k labels of `video` with their softmax probabilities, averaged over the test protocol's views; read at
    `rate`, or (None) the rate the checkpoint was trained with. `report=None`: no progress lines."""
    if report:
        report(f"reading {video.name}")
    if video_info(video).num_frames == 1:
        print(f"warning: {video} has a single frame (an image, or a one-frame video): it is classified as a still "
              "clip, that frame repeated, so no motion can inform the prediction", file=sys.stderr)
    rate = clip_rate(video, model, checkpoint, rate, report)
    mean = video_probabilities(video, model, views, rate, progress=report, autorotate=autorotate)  # (num_labels,)
    if not torch.isfinite(mean).all():
        raise CommandError(f"{checkpoint}: the model's outputs on {video} are not finite numbers (NaN or Inf): "
                           "its weights are broken")
    top = mean.topk(min(top_k, len(mean)))
    return [{"id": int(i), "label": labels[int(i)], "score": float(p)} for p, i in zip(top.values, top.indices)]


def cmd_classify(args) -> str:
    video = existing_file(args.video)
    model = load_model(args.checkpoint, VideoMAEForVideoClassification, args.config)
    labels = model.config.id2label
    if args.labels:
        names = [line.strip() for line in existing_file(args.labels).read_text(encoding="utf-8").splitlines()
                 if line.strip()]  # blank lines (a trailing one, above all) are not labels
        if len(names) != model.config.num_labels:
            raise CommandError(f"{args.labels}: {len(names)} labels, but the checkpoint has {model.config.num_labels} classes")
        labels = dict(enumerate(names))
    predictions = _predict(video, model, args.views, args.rate, args.top_k, labels, args.checkpoint,
                           not args.no_autorotate)
    if args.json:
        return to_json({"video": str(video), "checkpoint": args.checkpoint, "predictions": predictions})
    return "\n".join(f"{p['score']:7.2%}  {p['label']} ({p['id']})" for p in predictions)


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
        pixel_values, _ = _views(existing_file(args.video), ours, "single", args.rate, not args.no_autorotate,
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


def cmd_reconstruct(args) -> str:
    video = existing_file(args.video)
    if not 0 <= args.mask_ratio < 1:
        raise CommandError(f"--mask-ratio must be in [0, 1), got {args.mask_ratio}")
    model = load_model(args.checkpoint, VideoMAEForPreTraining, args.config)
    loss, masked = _reconstruction_picture(video, model, Path(args.out), args.mask_ratio, args.seed,
                                           clip_rate(video, model, args.checkpoint, args.rate), not args.no_autorotate)
    return f"loss {loss:.4f} over {masked} masked tubelets\nwrote {args.out}"


def _reconstruction_picture(video: Path, model, out_path: Path, mask_ratio: float, seed: int, rate: int,
                            autorotate: bool = True, who: str = "the checkpoint") -> tuple[float, int]:
    "Draw the original, masked and reconstructed frames of a clip of `video`; return the loss and the masked count."
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = model.config
    progress(f"reading {video.name}")
    pixel_values, views = video_views(video, model, "single", rate, autorotate)  # (1, T, C, S, S)
    mask = tube_mask(1, config.grid, mask_ratio, generator=torch.Generator().manual_seed(seed))
    progress("reconstructing")
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
    save_figure_atomic(fig, out_path)
    plt.close(fig)
    return out.loss.item(), int(mask.sum())


def cmd_demo(args) -> str:
    missing = [p for p in (MOTION_CLIPS / "labels.csv", TINY_FINETUNED / "model.safetensors",
                           TINY_PRETRAINED / "model.safetensors") if not p.is_file()]
    if missing:
        raise CommandError(f"bundled files are missing ({', '.join(map(str, missing))}): this installation of "
                           "videomae_minimal lacks its package data; reinstall it (pip install --force-reinstall)")
    classifier = load_model(str(TINY_FINETUNED), VideoMAEForVideoClassification)
    clips, names = read_labels(MOTION_CLIPS / "labels.csv")
    rows = [(path, names[label]) for path, label, _ in clips]
    lines = [f"The tiny VideoMAE fine-tuned on the motion task (the package's {TINY_FINETUNED.relative_to(DATA.parent)}), "
             f"on the {len(rows)} bundled clips of {MOTION_CLIPS.relative_to(DATA.parent)}:"]
    correct = 0
    progress(f"classifying the {len(rows)} bundled clips")  # one line: the results follow, on stdout
    for path, truth in rows:
        predictions = _predict(path, classifier, "single", None, 3, classifier.config.id2label,
                               str(TINY_FINETUNED), report=None)
        correct += predictions[0]["label"] == truth
        top = ", ".join(f"{p['label']} {p['score']:.0%}" for p in predictions)
        lines.append(f"  {path.name:<34} {'ok   ' if predictions[0]['label'] == truth else 'WRONG'} top 3: {top}")
    lines.append(f"{correct} of {len(rows)} correct")
    pretrained = load_model(str(TINY_PRETRAINED), VideoMAEForPreTraining)
    clip = rows[args.clip % len(rows)][0]
    rate = clip_rate(clip, pretrained, str(TINY_PRETRAINED), None)
    loss, masked = _reconstruction_picture(clip, pretrained, Path(args.out), 0.9, args.seed, rate,
                                           who="the tiny pre-trained VideoMAE")
    lines.append(f"The tiny pre-trained VideoMAE (the package's {TINY_PRETRAINED.relative_to(DATA.parent)}) rebuilt {clip.name} from "
                 f"10% of its tubelets: loss {loss:.4f} over {masked} masked tubelets")
    lines.append(f"wrote {Path(args.out).resolve()}")
    return "\n".join(lines)
