#!/usr/bin/env python3
"""The Hugging Face model page's SDPA table, for videomae_minimal and transformers side by side.

    python benchmarks/gpu.py [--device cuda] [--repeats 30] [--out benchmarks/gpu_results.md]
    python benchmarks/gpu.py --device cpu --tiny          (a few seconds: checks the script, measures nothing useful)

videomae-base-finetuned-kinetics sizes (the base config, 400 labels) with random weights: transformers builds the
model once with a fixed seed and saves it with save_pretrained, and both sides load that folder the way the model page
loads the checkpoint, `from_pretrained(folder, attn_implementation=..., dtype=...)`, so the weights are the same.
For each batch size (1, 2, 4, 8), dtype (float32, float16, and bfloat16 where the device supports it) and attention
(eager, SDPA), the forward latency of both models: a warm-up, then repetitions alternating ours / transformers, each
timed between two torch.cuda.synchronize() calls; the table gives the medians in ms. Both take the same pixel values,
already in the model's dtype. The page's own table (A100, PyTorch 2.3, float32) is printed beside it for reference.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import videomae_minimal as vm

# https://huggingface.co/docs/transformers/model_doc/videomae, "Using Scaled Dot Product Attention (SDPA)": A100-40GB,
# PyTorch 2.3.0, float32, MCG-NJU/videomae-base-finetuned-kinetics; average ms, eager and SDPA.
PAGE_TABLE = {1: (37, 10), 2: (24, 18), 4: (43, 32), 8: (84, 60)}
BATCHES = (1, 2, 4, 8)
TINY_BATCHES = (1, 2)
# --tiny: the shapes of a real model cut down until a CPU runs the whole grid in a second or two.
TINY = dict(image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=64, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=128)
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def dtypes_for(device: torch.device) -> list[torch.dtype]:
    "float32 and float16 everywhere; bfloat16 where the device does it natively (any CPU torch runs it)."
    out = [torch.float32, torch.float16]
    if device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False):
        out.append(torch.bfloat16)
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def save_random_checkpoint(folder: Path, tiny: bool) -> None:
    "transformers' base (or tiny) classifier with 400 labels and seeded random weights, saved with save_pretrained."
    import transformers

    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(num_labels=400, **(TINY if tiny else {}))
    transformers.VideoMAEForVideoClassification(config).save_pretrained(folder)


def load_pair(folder: Path, dtype: torch.dtype, attn: str, device: torch.device):
    import transformers

    ours = vm.VideoMAEForVideoClassification.from_pretrained(folder, dtype=dtype, attn_implementation=attn)
    theirs = transformers.VideoMAEForVideoClassification.from_pretrained(folder, dtype=dtype, attn_implementation=attn)
    return ours.to(device).eval(), theirs.to(device).eval()


def time_pair(ours, theirs, x, device, repeats: int, warmup: int) -> tuple[list[float], list[float], float]:
    "Seconds of each forward, ours and theirs alternating after `warmup` calls each; and the max |logit difference|."
    with torch.inference_mode():
        for _ in range(warmup):
            a, b = ours(x).logits, theirs(x).logits
        synchronize(device)
        diff = (a.float() - b.float()).abs().max().item()
        times = ([], [])
        for _ in range(repeats):
            for model, out in zip((ours, theirs), times):
                synchronize(device)
                start = time.perf_counter()
                model(x)
                synchronize(device)
                out.append(time.perf_counter() - start)
    return times[0], times[1], diff


def measure(device: torch.device, tiny: bool, repeats: int, warmup: int, progress=print) -> list[dict]:
    batches = TINY_BATCHES if tiny else BATCHES
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videomae-base-finetuned-kinetics-random"
        save_random_checkpoint(folder, tiny)
        image = TINY["image_size"] if tiny else 224
        frames = TINY["num_frames"] if tiny else 16
        for dtype in dtypes_for(device):
            for attn in ("eager", "sdpa"):
                ours, theirs = load_pair(folder, dtype, attn, device)
                for batch in batches:
                    progress(f"{DTYPE_NAMES[dtype]}, {attn}, batch {batch} ...")
                    x = torch.randn(batch, frames, 3, image, image, generator=torch.Generator().manual_seed(batch))
                    x = x.to(device=device, dtype=dtype)
                    t_ours, t_theirs, diff = time_pair(ours, theirs, x, device, repeats, warmup)
                    results.append(dict(dtype=DTYPE_NAMES[dtype], attn=attn, batch=batch, diff=diff,
                                        ours=1000 * statistics.median(t_ours), theirs=1000 * statistics.median(t_theirs),
                                        n=len(t_ours)))
                del ours, theirs
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    return results


def markdown(results: list[dict], device: torch.device, tiny: bool, repeats: int, warmup: int, command: str) -> str:
    import transformers

    cell = {(r["dtype"], r["attn"], r["batch"]): r for r in results}
    sizes = "the tiny config of `--tiny` (not the page's sizes)" if tiny else "videomae-base-finetuned-kinetics sizes"
    lines = [
        "# VideoMAE forward latency: eager vs SDPA, videomae_minimal vs transformers",
        "",
        f"Made by `{command}` on {device_name(device)}; torch {torch.__version__}"
        + (f" (CUDA {torch.version.cuda})" if device.type == "cuda" else "")
        + f", transformers {transformers.__version__}, videomae_minimal {vm.__version__}. {sizes.capitalize()}, random "
        f"weights saved once with transformers' save_pretrained and loaded by both with `from_pretrained(folder, "
        f"dtype=..., attn_implementation=...)`. Median ms of {repeats} forwards per cell, ours and transformers "
        f"alternating after {warmup} warm-up forward{'s' if warmup > 1 else ''} each"
        + (", each between two `torch.cuda.synchronize()`" if device.type == "cuda" else "")
        + ". ratio = ours / transformers (below 1: ours is faster); speed-up = eager / SDPA.",
        "",
        "| batch | dtype | ours eager | transformers eager | ours SDPA | transformers SDPA | ratio eager | ratio SDPA "
        "| speed-up ours | speed-up transformers | max logit diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dtype, attn, batch) in sorted({(r["dtype"], "eager", r["batch"]) for r in results},
                                       key=lambda k: (k[2], list(DTYPE_NAMES.values()).index(k[0]))):
        e, s = cell[(dtype, "eager", batch)], cell[(dtype, "sdpa", batch)]
        lines.append(f"| {batch} | {dtype} | {e['ours']:.2f} | {e['theirs']:.2f} | {s['ours']:.2f} | {s['theirs']:.2f} "
                     f"| {e['ours'] / e['theirs']:.2f} | {s['ours'] / s['theirs']:.2f} "
                     f"| {e['ours'] / s['ours']:.2f} | {e['theirs'] / s['theirs']:.2f} | {max(e['diff'], s['diff']):.2g} |")
    lines += [
        "",
        "Reference: the model page's table (https://huggingface.co/docs/transformers/model_doc/videomae, A100-40GB, "
        "PyTorch 2.3.0, float32, MCG-NJU/videomae-base-finetuned-kinetics, average ms, transformers only).",
        "",
        "| batch | page eager (ms) | page SDPA (ms) | page speed-up |",
        "|---|---|---|---|",
    ]
    lines += [f"| {b} | {e} | {s} | {e / s:.2f} |" for b, (e, s) in PAGE_TABLE.items()]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    "A temporary file beside `path`, renamed onto it: the file is complete or absent, never half written."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="where to run: cuda (the default), cuda:N or cpu")
    parser.add_argument("--tiny", action="store_true",
                        help=f"a tiny config (hidden {TINY['hidden_size']}, {TINY['num_hidden_layers']} layers, "
                             f"{TINY['image_size']} px, {TINY['num_frames']} frames) and batches "
                             f"{', '.join(map(str, TINY_BATCHES))}: to check the script on a CPU in seconds")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed forwards per model and cell (default 30; 5 with --tiny)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed forwards per model and cell first (default 5; 1 with --tiny)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown tables to this file (atomically)")
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        print(f"gpu.py: --device {args.device!r} is not a device torch knows ({e})", file=sys.stderr)
        return 2
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"gpu.py: --device {args.device} asked, but torch {torch.__version__} sees no CUDA device "
              f"(torch.cuda.is_available() is False); try --device cpu --tiny", file=sys.stderr)
        return 2
    if device.type not in ("cuda", "cpu"):
        print(f"gpu.py: --device must be cuda, cuda:N or cpu, got {args.device!r}", file=sys.stderr)
        return 2
    repeats = args.repeats if args.repeats is not None else (5 if args.tiny else 30)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 5)
    if repeats < 1 or warmup < 1:
        print("gpu.py: --repeats and --warmup must be at least 1", file=sys.stderr)
        return 2
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # the loading bars; the progress lines below say where it is
    results = measure(device, args.tiny, repeats, warmup, progress=lambda m: print(m, file=sys.stderr))
    command = "python benchmarks/gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(results, device, args.tiny, repeats, warmup, command.strip())
    print(text)
    if args.out:
        write_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
