"""The commands that look at a video: demo, frames, synthetic-clip, classify and reconstruct, each registered beside
its handler (embed.py registers `embed`). A clip is read at the rate its checkpoint was trained with (sampling_rate.py)
unless --rate says otherwise. Hand-written (no notebook): the command line."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from ..api import video_probabilities, video_views
from ..bundled import DATA, MOTION_CLIPS, TINY_FINETUNED, TINY_PRETRAINED
from ..classifier import VideoMAEForVideoClassification
from ..masking import tube_mask
from ..plotting import save_frames_figure, save_reconstruction_figure
from ..pretraining import VideoMAEForPreTraining, masked_pixels, reconstruct_pixels
from ..processing import IMAGENET_MEAN, IMAGENET_STD, frames_from_pixel_values, preprocess
from ..runs import read_labels
from ..sampling import sample_frame_indices
from ..sampling_rate import fitting_rate, frames_needed, trained_rate
from ..video import read_video, video_info, write_synthetic_clip
from .options import (AUTOROTATE_HELP, CommandError, existing_file, integer, load_model, progress, to_json,
                      video_command)

__all__ = ["STATISTICS", "clip_rate", "read_views", "cmd_frames", "cmd_synthetic_clip", "cmd_classify", "cmd_reconstruct",
           "cmd_demo", "register"]


STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "half": ((0.5,) * 3, (0.5,) * 3)}


def _frames_picture(video: Path, out: Path, num_frames: int, rate: int, seed: int, statistics: str,
                    autorotate: bool = True) -> str:
    info = video_info(video)
    indices = sample_frame_indices(num_frames, rate, info.num_frames, rng=seed)
    frames = read_video(video, indices, autorotate=autorotate)  # (T, H, W, 3) uint8
    mean, std = STATISTICS[statistics]
    pixel_values = preprocess(frames, mean=mean, std=std)  # (T, 3, 224, 224) float32
    shown = frames_from_pixel_values(pixel_values, mean=mean, std=std)  # (T, 224, 224, 3) uint8
    save_frames_figure(shown, [f"frame {i}" for i in indices], out=out,
                       suptitle=f"{video.name}: {num_frames} frames (rate {rate}, seed {seed}) as the model sees them")
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


def read_views(video: Path, model, views: str, rate: int | None, autorotate: bool, checkpoint: str
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
    rows = [("original", original), (f"input: {mask_ratio:.0%} hidden", masked), ("reconstructed", rebuilt)]
    save_reconstruction_figure(rows, views[0], out=out_path,
                               title=f"{video.name}: what {who} rebuilds from the {1 - mask_ratio:.0%} of its tubelets it "
                                     f"sees\n(loss {out.loss.item():.4f}: the mean squared error of its guess at the "
                                     "hidden tubelets)")
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


def register(add) -> None:
    """The commands that look at a video: demo, frames, synthetic-clip, classify, reconstruct. `add` is the
    parser's add_parser, recording each help."""
    demo = add("demo", help="classify the bundled motion clips and draw a reconstruction (offline, seconds)",
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

    frames = add("frames", help="sample and process any video; save a picture of the model's input",
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

    synth = add("synthetic-clip", help="write a test clip whose frames show their own numbers",
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

    classify = video_command(add, "classify", help="classify a video with a fine-tuned checkpoint",
                             description="Sample and process VIDEO as the checkpoint's config and preprocessor config "
                                         "say, run the classifier and print the top-k labels (softmax probabilities).")
    classify.add_argument("--top-k", type=integer(1), default=5, help="(default: %(default)s)")
    classify.add_argument("--views", choices=("single", "kinetics"), default="single",
                          help="single: the centre clip, centre crop; kinetics: 5 clips x 3 crops, probabilities averaged")
    classify.add_argument("--labels", help="label names, one per line (default: the checkpoint's id2label)")
    classify.add_argument("--json", action="store_true", help="print one JSON object")
    classify.set_defaults(run=cmd_classify)

    reconstruct = video_command(add, "reconstruct", help="draw what a pre-training checkpoint reconstructs",
                                description="Mask a clip of VIDEO with tube masking and draw the original, masked and "
                                            "reconstructed frames of a pre-training checkpoint.")
    reconstruct.add_argument("--out", required=True, help="picture to write (.png, .jpg, .pdf)")
    reconstruct.add_argument("--mask-ratio", type=float, default=0.9, help="(default: %(default)s)")
    reconstruct.add_argument("--seed", type=integer(0), default=0, help="seed of the mask (default: %(default)s)")
    reconstruct.set_defaults(run=cmd_reconstruct)
