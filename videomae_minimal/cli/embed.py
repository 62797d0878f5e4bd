"""`videomae-minimal embed`: one feature vector per clip, for a folder or a list of clips, to one .npy or
.safetensors file; registered beside its handler. Hand-written (no notebook): the command line is the top layer.

Resumable: each finished clip's vector waits in a parts folder beside the output (`.NAME.parts/`), so a run that
is stopped and started again only reads the clips it had not reached. A clip that cannot be read costs only its
own row: it is named, with its error, in the output's record of failures."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from ..api import embed_video
from ..files import write_atomic
from ..finetuning import VIDEO_SUFFIXES
from .look import clip_rate
from .options import CommandError, checkpoint_options, load_model, progress

__all__ = ["FEATURE_FORMATS", "clip_paths", "cmd_embed", "register"]

FEATURE_FORMATS = (".npy", ".safetensors")


def clip_paths(sources: list[str]) -> list[Path]:
    """The clips to embed, in order: a video file as given, a folder's video files (recursively, sorted), or a
    .txt list of paths (one per line, relative to the list's folder). Raises CommandError naming a missing source."""
    clips = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            clips += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            clips += [p if p.is_absolute() else path.parent / p for p in map(Path, lines)]
        elif path.is_file():
            clips.append(path)
        else:
            raise CommandError(f"{source}: no such file or folder (expected a video, a folder of videos or a .txt list)")
    if not clips:
        raise CommandError(f"no video files in {', '.join(sources)} (looked for {', '.join(VIDEO_SUFFIXES)})")
    return list(dict.fromkeys(clips))  # a clip named twice is embedded once


def _part(parts: Path, clip: Path) -> Path:
    return parts / (hashlib.sha256(str(clip.resolve()).encode()).hexdigest()[:24] + ".npy")


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def _write_features(out: Path, features: np.ndarray, record: dict) -> list[Path]:
    "The features (N, D) float32 and their record: a .json beside a .npy, or the metadata of a .safetensors."
    if out.suffix == ".npy":
        _save_npy(out, features)
        sidecar = out.with_suffix(".json")
        write_atomic(sidecar, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"))
        return [out, sidecar]
    import torch
    from safetensors.torch import save_file

    metadata = {"format": "pt", **{k: json.dumps(v) for k, v in record.items()}}
    write_atomic(out, lambda tmp: save_file({"features": torch.from_numpy(features)}, str(tmp), metadata=metadata))
    return [out]


def cmd_embed(args) -> str:
    out = Path(args.out)
    if out.suffix not in FEATURE_FORMATS:
        raise CommandError(f"--out {out}: expected a file ending in {' or '.join(FEATURE_FORMATS)}")
    clips = clip_paths(args.clips)
    model = load_model(args.checkpoint, None, args.config)
    parts = out.parent / f".{out.name}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    failed = {}
    for n, clip in enumerate(clips, 1):
        part = _part(parts, clip)
        if part.is_file():
            continue  # finished by an earlier run
        progress(f"[{n}/{len(clips)}] {clip}")
        try:
            rate = clip_rate(clip, model, args.checkpoint, args.rate, None)
            vector = embed_video(clip, model, args.views, rate, not args.no_autorotate).detach().numpy()  # (D,)
        except (ValueError, OSError, RuntimeError) as e:  # an unreadable or too-short clip: its row only
            failed[str(clip)] = f"{type(e).__name__}: {e}"
            print(f"warning: {clip}: skipped ({failed[str(clip)]})", file=sys.stderr)
            continue
        _save_npy(part, vector.astype(np.float32))
    done = [c for c in clips if _part(parts, c).is_file()]
    if not done:
        raise CommandError(f"no clip could be embedded: {json.dumps(failed)}")
    features = np.stack([np.load(_part(parts, c)) for c in done])  # (N, D)
    record = {"clips": [str(c) for c in done], "failed": failed, "checkpoint": args.checkpoint, "views": args.views}
    written = _write_features(out, features, record)
    shutil.rmtree(parts)
    return (f"{len(done)} clips -> {', '.join(map(str, written))}: features {features.shape[0]} x {features.shape[1]}"
            + (f"; {len(failed)} skipped (named in the record)" if failed else ""))


def register(add) -> None:
    "`embed`, registered through the parser's add_parser (`add`) as the others are."
    embed = add("embed", help="feature vectors of many clips, to one .npy or .safetensors file (resumable)",
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
