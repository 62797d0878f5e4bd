"""The sampling rate a checkpoint was trained with, and the rate a clip is long enough for. Hand-written (no notebook):
the command line's defaults. A checkpoint read at another rate than its training's sees other motion: the bundled
tiny classifier, trained on consecutive frames, gets 4 of its 8 clips right at rate 4 and 8 of 8 at rate 1."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["DEFAULT_RATE", "TrainedRate", "trained_rate", "frames_needed", "fitting_rate", "evaluate_at_fitting_rates"]

DEFAULT_RATE = 4  # the Kinetics recipe's (Tong et al. 2022): for checkpoints that record none (the Hub's, original .pth)


def _training_record(checkpoint) -> tuple[Path, dict] | None:
    """The run's arguments as its folder records them: training.json (a finished run), or the first line of the run's
    log.jsonl for one of its checkpoint-<step> folders. None for a Hub id or a folder without either."""
    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent if path.is_file() else None
    if folder is None:
        return None
    candidates = [(folder / "training.json", lambda text: json.loads(text)["args"])]
    if folder.name.startswith("checkpoint-"):
        candidates.append((folder.parent / "log.jsonl", lambda text: json.loads(text.splitlines()[0])["args"]))
    for file, read in candidates:
        if file.is_file():
            try:
                args = read(file.read_text(encoding="utf-8"))
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise ValueError(f"{file}: cannot read the run's arguments ({type(e).__name__}: {e}); repair or remove "
                                 "it, or give --rate") from None
            if not isinstance(args, dict):
                raise ValueError(f"{file}: its \"args\" is not an object; repair or remove it, or give --rate")
            return file, args
    return None


class TrainedRate(NamedTuple):
    rate: int  # frames between sampled frames
    why: str  # where it was read, for the progress line
    video_files: bool  # trained on video files (finetune --data), not on the motion task's clips


def trained_rate(checkpoint) -> TrainedRate:
    """The frames between sampled frames the checkpoint was trained with, and where that was read.

    A run on video files (finetune --data) records its `rate` (for `random` sampling); a run on the motion task
    (synthetic clips, or a labels.csv folder of them) reads each clip's frames one after another: rate 1. A
    checkpoint that records nothing (a Hub id, a weights file from elsewhere) gets the Kinetics recipe's 4."""
    found = _training_record(checkpoint)
    if found is None:
        return TrainedRate(DEFAULT_RATE, "the Kinetics recipe's; the checkpoint records no training run", False)
    file, args = found
    if "rate" in args:
        rate = args["rate"]
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ValueError(f"{file}: its rate is {rate!r}, not a positive integer; repair it, or give --rate")
        if args.get("sampling", "random") != "random":
            return TrainedRate(DEFAULT_RATE, f"the Kinetics recipe's; {file} records {args['sampling']!r} sampling, "
                                             "which has no rate", True)
        return TrainedRate(rate, f"as trained, from {file}", True)
    if "data" in args:
        return TrainedRate(1, f"as trained: consecutive frames of the motion task's clips, from {file}", False)
    return TrainedRate(DEFAULT_RATE, f"the Kinetics recipe's; {file} records no sampling", False)


def frames_needed(clip_len: int, rate: int) -> int:
    "Frames a video must have for `clip_len` samples `rate` apart: (clip_len - 1) * rate + 1."
    return (clip_len - 1) * rate + 1


def fitting_rate(available: int, clip_len: int, rate: int) -> int:
    """`rate` when a video of `available` frames holds `clip_len` samples at it; else the largest rate that does (the
    densest sampling a short clip forces), 1 when not even consecutive frames fill the clip (its last frame repeats)."""
    if available >= frames_needed(clip_len, rate) or clip_len == 1:
        return rate
    return max(1, (available - 1) // (clip_len - 1))


def evaluate_at_fitting_rates(model, clips, rate: int, batch_size: int = 8) -> tuple[dict, list[str]]:
    """{'accuracy', 'n', 'per_class'} of `model` on every clip of `clips` (a ClipSet, appendix A5), the centre clip of
    `clip_len` frames `rate` apart, a clip too short for that read at the largest rate that fits; and a notice for each
    such clip. The clips' label names are matched to the checkpoint's id2label."""
    from .finetuning import ClipSet, evaluate_clips

    ids = {name: i for i, name in model.config.id2label.items()}
    unknown = sorted({name for name in clips.label_names.values() if name not in ids})
    if unknown:
        raise ValueError(f"the data's labels {unknown[:5]} are not among the checkpoint's ({', '.join(list(ids)[:8])}, ...)")
    labels = np.array([ids[clips.label_names[int(label)]] for label in clips.labels], dtype=np.int64)
    clips = ClipSet(clips.files, labels, dict(model.config.id2label), clips.frame_counts, clips.layout)
    clip_len = model.config.num_frames
    rates = np.array([fitting_rate(int(count), clip_len, rate) for count in clips.frame_counts])
    notices = [f"{path}: {count} frames; rate {rate} needs {frames_needed(clip_len, rate)}: read at rate {fitted}"
               for path, count, fitted in zip(clips.files, clips.frame_counts, rates) if fitted != rate]
    k = model.config.num_labels
    confusion = np.zeros((k, k), dtype=np.int64)  # true x predicted counts, summed over the groups of one rate each
    for fitted in np.unique(rates):
        part = evaluate_clips(model, clips.subset(np.flatnonzero(rates == fitted)), "random", "single", int(fitted),
                              batch_size)
        confusion += np.array(part["confusion"], dtype=np.int64)
    seen = np.flatnonzero(confusion.sum(axis=1))
    per_class = {model.config.id2label[int(c)]: float(confusion[c, c] / confusion[c].sum()) for c in seen}
    return {"accuracy": float(np.trace(confusion) / confusion.sum()), "n": int(confusion.sum()),
            "per_class": per_class}, notices
