#!/usr/bin/env python3
"""The benchmark suite: videomae_minimal against transformers and the Hugging Face docs recipe, side by side.

    python benchmarks/run.py [--repeats 5] [--out benchmarks/RESULTS.md]     (or: make bench)
    python benchmarks/run.py --quick [--only bf16,checkpointing]             (a smoke run; prints, writes no file)

Every timed row runs both sides in one fresh process with the same weights and inputs, repetitions interleaved
(ours, theirs, ours, theirs, ...) after a warm-up, and reports the median and min-max of each and the ratio of the
medians (ours / theirs: below 1 means ours is faster). Peak memory is measured in a fresh process per side.
Nothing here is a test: timings depend on the machine and on what else it is doing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import videomae_minimal as vm  # noqa: E402


def transformers_pair(kind: str, batch: int):
    "(ours, theirs, inputs): base-config models with the same random weights."
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    if kind == "classification":
        theirs = transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(num_labels=400))
        ours = vm.VideoMAEForVideoClassification(vm.VideoMAEConfig(num_labels=400))
    else:
        theirs = transformers.VideoMAEForPreTraining(transformers.VideoMAEConfig(use_mean_pooling=False))
        ours = vm.VideoMAEForPreTraining(vm.VideoMAEConfig(use_mean_pooling=False))
    vm.checkpoints.load_weights(ours, vm.checkpoints.from_transformers_state_dict(theirs.state_dict()))
    pixel_values = torch.randn(batch, 16, 3, 224, 224)
    mask = vm.tube_mask(batch, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(0))
    return ours, theirs, pixel_values, mask


# Repetitions: at least --repeats, and more for quick rows, up to about this many seconds per side. The machine's
# speed wanders by a few percent from one run to the next, so a cheap row can afford the repetitions that steady it.
SECONDS_PER_SIDE = 30.0
MAX_REPEATS = 21
SECONDS_PER_SIDE_ENV = "VIDEOMAE_BENCH_SECONDS_PER_SIDE"  # --seconds-per-side, passed on to the row processes


def seconds_per_side() -> float:
    return float(os.environ.get(SECONDS_PER_SIDE_ENV, SECONDS_PER_SIDE))


def interleaved(functions: dict, repeats: int) -> dict:
    "Median, min, max seconds and count of each function's runs, run alternately after one warm-up each."
    warmup = []
    for fn in functions.values():
        start = time.perf_counter()
        fn()
        warmup.append(time.perf_counter() - start)
    repeats = max(repeats, min(MAX_REPEATS, int(seconds_per_side() / max(warmup))))
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t), max(t), len(t)) for name, t in times.items()}


def fmt(stats) -> str:
    median, low, high, count = stats
    return f"{median:.2f} s ({low:.2f}-{high:.2f}, n={count})"


def classification_rows(batch, repeats):
    "Our forward against transformers' at this batch size; at batch 1 also our SDPA against our eager attention."
    ours, theirs, x, _ = transformers_pair("classification", batch)
    ours.eval(), theirs.eval()
    with torch.inference_mode():
        stats = interleaved({"ours": lambda: ours(x), "theirs": lambda: theirs(x)}, repeats)
    rows = [(f"classification forward, base, batch {batch}", "transformers (SDPA)", stats["ours"], stats["theirs"])]
    if batch == 1:
        eager = vm.VideoMAEForVideoClassification(vm.VideoMAEConfig(num_labels=400, attn_implementation="eager")).eval()
        eager.load_state_dict(ours.state_dict())
        with torch.inference_mode():
            e = interleaved({"sdpa": lambda: ours(x), "eager": lambda: eager(x)}, repeats)
        rows.append((f"classification forward, base, batch {batch}: ours SDPA vs ours eager", "ours, eager", e["sdpa"], e["eager"]))
    return rows


def pretraining_rows(batch, repeats):
    ours, theirs, x, mask = transformers_pair("pretraining", batch)

    def ours_step():
        ours.zero_grad(set_to_none=True)
        ours(x, mask).loss.backward()

    def theirs_step():
        theirs.zero_grad(set_to_none=True)
        theirs(x, bool_masked_pos=mask).loss.backward()

    stats = interleaved({"ours": ours_step, "theirs": theirs_step}, repeats)
    return [(f"pre-training step (forward + backward), base, 90% tube mask, batch {batch}", "transformers (SDPA)",
             stats["ours"], stats["theirs"])]


FRESH_CHILD = r"""
import json, sys
sys.path.insert(0, {bench!r})
import run
print(json.dumps(getattr(run, sys.argv[1])(*json.loads(sys.argv[2]))))
"""


def in_fresh_process(function: str, *args) -> list:
    """Run one of this file's row functions in a new Python process and return its rows.

    Every row pair gets a process of its own, like a user's process that loads one model and runs it: in one long
    process the models of earlier rows leave gigabytes of freed memory that the allocator hands out again, which
    hides the cost of fresh memory (page faults) from whichever side would have paid it.
    """
    code = FRESH_CHILD.format(bench=str(ROOT / "benchmarks"))
    out = subprocess.run([sys.executable, "-c", code, function, json.dumps(args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmarks/run.py: {function}{args} failed in its own process:\n{out.stderr[-3000:]}")
    return [tuple(row) for row in json.loads(out.stdout.strip().splitlines()[-1])]


def classification_flops(config: vm.VideoMAEConfig, batch: int = 1) -> float:
    "Multiply-adds x 2 of one classification forward, counted from the shapes."
    n, d, f = config.num_patches, config.hidden_size, config.intermediate_size
    embed = 2 * n * config.patch_dim * d
    per_layer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * f
    return batch * (embed + config.num_hidden_layers * per_layer + 2 * d * config.num_labels)


MATMUL_SHAPE = (1568, 768, 3072)  # the model's largest matmul: (tokens x D) @ (D x 4D)


def rate_rows(repeats):
    """Our forward, transformers' forward and ten plain matmuls of the model's largest shape, interleaved in one process.

    The matmul sets the machine's rate for this work in the same conditions as the forwards (the machine's speed drifts
    by a few percent over minutes). The table compares each forward's median with the matmul's fastest run, and with its
    median too.
    """
    ours, theirs, x, _ = transformers_pair("classification", 1)
    ours.eval(), theirs.eval()
    m, k, n = MATMUL_SHAPE
    a, b = torch.randn(m, k), torch.randn(k, n)

    def matmuls():
        for _ in range(10):
            a @ b

    with torch.inference_mode():
        stats = interleaved({"ours": lambda: ours(x), "theirs": lambda: theirs(x), "matmul": matmuls}, repeats)
    return [(stats["ours"], stats["theirs"], stats["matmul"])]


def autocast_rows(repeats):
    ours, theirs, x, _ = transformers_pair("classification", 1)
    ours.eval(), theirs.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        stats = interleaved({"ours": lambda: ours(x), "theirs": lambda: theirs(x)}, repeats)
        diff = (ours(x).logits.float() - theirs(x).logits.float()).abs().max().item()
    return [("classification forward, base, batch 1, bf16 autocast", f"transformers (max logit diff {diff:.3f})",
             stats["ours"], stats["theirs"])]


def save_base_classifier(folder):
    "transformers' base classifier (400 labels, the random weights of seed 0) written with its save_pretrained."
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(num_labels=400)).save_pretrained(folder)
    return []


def bf16_pair(folder):
    """(ours, theirs, pixel_values): both loaded from the same saved folder as the model page loads the checkpoint,
    weights in bf16. The pixel values are float32, as a preprocessor returns them."""
    import transformers

    transformers.logging.set_verbosity_error()
    ours = vm.VideoMAEForVideoClassification.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="sdpa")
    theirs = transformers.VideoMAEForVideoClassification.from_pretrained(folder, dtype=torch.bfloat16,
                                                                         attn_implementation="sdpa")
    assert ours.dtype == theirs.dtype == torch.bfloat16
    torch.manual_seed(0)
    return ours.eval(), theirs.eval(), torch.randn(1, 16, 3, 224, 224)


def bf16_weight_rows(folder, repeats):
    """Both models with bf16 weights. Ours takes the float32 pixel values and casts them; transformers' needs them in
    bf16 first: each side's timing includes its cast."""
    ours, theirs, x = bf16_pair(folder)
    with torch.inference_mode():
        stats = interleaved({"ours": lambda: ours(x), "theirs": lambda: theirs(x.to(torch.bfloat16))}, repeats)
        diff = (ours(x).logits.float() - theirs(x.to(torch.bfloat16)).logits.float()).abs().max().item()
    return [("classification forward, base, batch 1, bf16 weights (`from_pretrained(folder, dtype=torch.bfloat16)`)",
             f"transformers (max logit diff {diff:.3f})", stats["ours"], stats["theirs"])]


def bf16_rate_rows(folder, repeats):
    "rate_rows for the bf16-weight models, against ten bf16 matmuls of the largest shape, interleaved in one process."
    ours, theirs, x = bf16_pair(folder)
    m, k, n = MATMUL_SHAPE
    a, b = torch.randn(m, k).to(torch.bfloat16), torch.randn(k, n).to(torch.bfloat16)

    def matmuls():
        for _ in range(10):
            a @ b

    with torch.inference_mode():
        stats = interleaved({"ours": lambda: ours(x), "theirs": lambda: theirs(x.to(torch.bfloat16)), "matmul": matmuls},
                            repeats)
    return [(stats["ours"], stats["theirs"], stats["matmul"])]


def set_checkpointing(model, on: bool) -> None:
    "gradient_checkpointing_enable() / _disable(), the names both packages have (transformers 5 warns they are old)."
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.gradient_checkpointing_enable() if on else model.gradient_checkpointing_disable()


def checkpointing_rows(repeats):
    """Pre-training steps with and without gradient checkpointing, ours and transformers', interleaved in one process
    (each model switched on and off before each of its steps: the same model, the same weights)."""
    import transformers

    transformers.logging.set_verbosity_error()
    ours, theirs, x, mask = transformers_pair("pretraining", CHECKPOINTING_BATCH)

    def step(model, on):
        def run():
            set_checkpointing(model, on)
            model.zero_grad(set_to_none=True)
            (model(x, mask) if model is ours else model(x, bool_masked_pos=mask)).loss.backward()
        return run

    stats = interleaved({"ours": step(ours, False), "ours, checkpointing": step(ours, True),
                         "theirs": step(theirs, False), "theirs, checkpointing": step(theirs, True)}, repeats)
    assert ours.is_gradient_checkpointing and theirs.is_activation_checkpointing and ours.training and theirs.training
    gradients = {side: sum(p.numel() * p.element_size() for p in m.parameters()) / 2 ** 20
                 for side, m in (("ours", ours), ("theirs", theirs))}
    return list(stats.items()) + [("gradient MB", gradients)]  # (name, stats) rows


CHECKPOINTING_BATCH = 2


MEMORY_CHILD = r"""
import sys, torch
sys.path.insert(0, {bench!r})
from run import set_checkpointing, transformers_pair
side, kind, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours, theirs, x, mask = transformers_pair(kind, batch)
model = ours if side == "ours" else theirs
if sys.argv[4:] == ["checkpointing"]:
    set_checkpointing(model, True)
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024  # MB
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current size
base = rss("VmRSS:")
if kind == "classification":
    with torch.inference_mode():
        model.eval()(x)
else:
    out = model(x, mask) if side == "ours" else model(x, bool_masked_pos=mask)
    out.loss.backward()
print(rss("VmHWM:") - base)
"""


# glibc's malloc keeps freed memory for reuse after a dynamic threshold, so the peak RSS reflects the allocator's
# history as much as the program (readings wandered by +-5%). With a fixed mmap threshold every buffer above 64 KB is
# its own mapping, returned to the system when freed: the peak RSS is then the peak of live tensors, repeatable to
# the MB, and the same rule holds for both sides.
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def peak_memory(cases) -> dict:
    "Median of 3 peak readings (MB above the loaded model) of each (side, kind, batch, checkpointing) case, alternating."
    peaks = {case: [] for case in cases}
    for _ in range(3):  # the allocator makes single readings wander by a few percent: median of 3, alternating
        for side, kind, batch, checkpointing in cases:
            code = MEMORY_CHILD.format(bench=str(ROOT / "benchmarks"))
            out = subprocess.run([sys.executable, "-c", code, side, kind, str(batch)] + (["checkpointing"] if checkpointing else []),
                                 capture_output=True, text=True, env={**os.environ, **FIXED_MMAP})
            if out.returncode != 0:
                raise RuntimeError(f"benchmarks/run.py: the peak-memory process {side, kind, batch, checkpointing} "
                                   f"failed:\n{out.stderr[-3000:]}")
            peaks[side, kind, batch, checkpointing].append(float(out.stdout.strip().splitlines()[-1]))
    return {case: statistics.median(values) for case, values in peaks.items()}


def memory_rows(kinds=("classification", "pretraining"), checkpointing: bool = False):
    """The peak-memory rows; with `checkpointing`, the pre-training step with gradient checkpointing too (its readings
    alternate with those of the same step without), returned as {side: (without, with)}."""
    rows, with_without = [], {}
    for kind, batch in (("classification", 1), ("pretraining", CHECKPOINTING_BATCH)):
        if kind not in kinds:
            continue
        variants = (False, True) if checkpointing and kind == "pretraining" else (False,)
        peaks = peak_memory([(side, kind, batch, on) for on in variants for side in ("ours", "theirs")])
        rows.append((f"peak memory above the loaded model: {kind}, batch {batch}",
                     peaks["ours", kind, batch, False], peaks["theirs", kind, batch, False]))
        if len(variants) == 2:
            with_without = {side: (peaks[side, kind, batch, False], peaks[side, kind, batch, True]) for side in ("ours", "theirs")}
    return rows, with_without


FAULTS_CHILD = r"""
import resource, sys, torch
sys.path.insert(0, {bench!r})
from run import transformers_pair
ours, theirs, x, _ = transformers_pair("classification", int(sys.argv[2]))
model = (ours if sys.argv[1] == "ours" else theirs).eval()
with torch.inference_mode():
    model(x)  # warm-up: the allocator has seen every size once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_fault_rows():
    "Minor page faults (first touches of fresh memory) in one classification forward after a warm-up; a fresh process per side."
    rows = []
    for batch in (1, 4):
        faults = {}
        for side in ("ours", "theirs"):
            code = FAULTS_CHILD.format(bench=str(ROOT / "benchmarks"))
            out = subprocess.run([sys.executable, "-c", code, side, str(batch)], capture_output=True, text=True, check=True)
            faults[side] = int(out.stdout.strip().splitlines()[-1])
        rows.append((batch, faults))
    return rows


def data_rows(repeats):
    import av
    from bench_data import read_video_pyav, reencode

    import transformers

    transformers.logging.set_verbosity_error()
    processor = transformers.VideoMAEImageProcessor(image_mean=list(vm.IMAGENET_MEAN), image_std=list(vm.IMAGENET_STD))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        video = reencode(Path(folder) / "gop60.mp4", 640, 360, 60)  # 10 s, 30 fps, 640x360, key frame every 2 s
        late = np.clip(np.linspace(235, 299, 16), 235, 298).astype(np.int64)

        def docs_late():
            with av.open(str(video)) as container:
                frames = read_video_pyav(container, late)
            return processor(list(frames), return_tensors="pt").pixel_values

        stats = interleaved({"ours": lambda: vm.preprocess(vm.read_video(video, late)), "theirs": docs_late}, repeats)
        rows.append(("clip -> pixel_values, 16 x 4 clip at the end of a 10 s 30 fps 640x360 H.264 video (key frame every 2 s)",
                     "HF docs recipe", stats["ours"], stats["theirs"]))
        windows = vm.kinetics_test_views(300, 16, 4, num_windows=5)

        def ours_views():  # each frame decoded once for all 15 views
            wanted = np.unique(windows)
            frames = vm.read_video(video, wanted)
            row = {int(f): i for i, f in enumerate(wanted)}
            return torch.cat([vm.preprocess_views(frames[[row[int(f)] for f in w]], num_crops=3) for w in windows])

        def docs_views():  # the docs recipe per window, then the processor without its centre crop, cut 3 ways
            clips = []
            for w in windows:
                with av.open(str(video)) as container:
                    frames = read_video_pyav(container, w)
                full = processor(list(frames), do_center_crop=False, return_tensors="pt").pixel_values[0]  # (16, 3, 224, 398)
                step = (full.shape[-1] - 224) / 2
                clips += [full[..., int(k * step):int(k * step) + 224] for k in range(3)]
            return torch.stack(clips)

        a, b = ours_views(), docs_views()
        grey = ((a - b) * torch.tensor(vm.IMAGENET_STD).view(1, 3, 1, 1) * 255).abs().max().item()
        stats = interleaved({"ours": ours_views, "theirs": docs_views}, repeats)
        rows.append((f"Kinetics test protocol, 5 clips x 3 crops of the same video (outputs within {grey:.0f} grey level)",
                     "HF docs recipe per clip", stats["ours"], stats["theirs"]))
    return rows


def notebook_rows():
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "appendix").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
        rows.append((path.name, time.perf_counter() - start))
    return rows


GROUPS = {
    "classification": "classification forward vs transformers, batch 1, 2, 4 (batch 1: ours SDPA vs ours eager too)",
    "pretraining": "pre-training step (forward + backward) vs transformers, batch 1, 2, 4",
    "data": "clip -> pixel_values and the Kinetics test views vs the HF docs recipe",
    "bf16": "bf16 autocast, and bf16 weights as the model page loads them: forward vs transformers, achieved rate",
    "memory": "peak memory of a forward and of a pre-training step, minor page faults",
    "rate": "achieved rate of the fp32 forward against plain matmuls",
    "checkpointing": f"gradient checkpointing: pre-training step, batch {CHECKPOINTING_BATCH}, peak memory and time with vs without",
    "notebooks": "each notebook executed top to bottom",
}


def rate_paragraph(title: str, forward, reference, matmuls, dtype: str) -> str:
    "The achieved-rate sentence: GFLOP from the shapes / median time, against the fastest run of the matmuls."
    flops = classification_flops(vm.VideoMAEConfig(num_labels=400))
    m, k, n = MATMUL_SHAPE
    best_matmul_rate = 10 * 2 * m * k * n / matmuls[1] / 1e9  # the fastest run: the machine's best at this shape
    median_matmul_rate = 10 * 2 * m * k * n / matmuls[0] / 1e9
    achieved, reference_rate = flops / forward[0] / 1e9, flops / reference[0] / 1e9  # medians
    return (f"{title}: {flops / 1e9:.0f} GFLOP counted from the shapes "
            f"in {forward[0]:.2f} s (median of {forward[3]}) = **{achieved:.0f} GFLOP/s**, against **{best_matmul_rate:.0f} "
            f"GFLOP/s**, the fastest of {matmuls[3]} runs of ten plain {dtype} ({m} x {k}) @ ({k} x {n}) matmuls (the "
            f"model's largest shape) interleaved with the forwards in the same process: "
            f"**{100 * achieved / best_matmul_rate:.0f}%** of it (median against median: "
            f"{100 * achieved / median_matmul_rate:.0f}%). transformers, measured the same way: "
            f"{reference_rate:.0f} GFLOP/s, {100 * reference_rate / best_matmul_rate:.0f}%.")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="row groups (--only):\n" + "\n".join(f"  {name:15s} {what}" for name, what in GROUPS.items()))
    parser.add_argument("--repeats", type=int, default=5, help="at least this many repetitions per row (quick rows get more)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every row group but the notebooks: batch 1 only, --repeats repetitions "
                             "per row (no extra ones for quick rows, unless --seconds-per-side says), no file written "
                             "unless --out is given")
    parser.add_argument("--only", metavar="GROUP[,GROUP...]",
                        help="run only these row groups (listed below); no file written unless --out is given")
    parser.add_argument("--seconds-per-side", type=float, default=None,
                        help=f"repeat a row until about this many seconds per side, up to {MAX_REPEATS} repetitions "
                             f"(default {SECONDS_PER_SIDE:.0f}; 0 with --quick)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the markdown goes (default benchmarks/RESULTS.md for a full run; a --quick or --only "
                             "run only prints it)")
    args = parser.parse_args()
    groups = list(GROUPS) if args.only is None else [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        parser.error(f"--only: unknown row group(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(GROUPS)}")
    if args.quick:
        groups = [g for g in groups if g != "notebooks"]
    partial = args.quick or args.only is not None
    out = args.out if args.out is not None else (None if partial else ROOT / "benchmarks" / "RESULTS.md")
    seconds = args.seconds_per_side if args.seconds_per_side is not None else (0.0 if args.quick else SECONDS_PER_SIDE)
    os.environ[SECONDS_PER_SIDE_ENV] = str(seconds)  # the row processes inherit it
    import transformers

    batches = [1] if args.quick else [1, 2, 4]
    rows, memory, faults, with_without, paragraphs, notebooks = [], [], [], {}, [], []
    if "classification" in groups:
        for batch in batches:
            print(f"classification, batch {batch} ...", file=sys.stderr)
            rows += in_fresh_process("classification_rows", batch, args.repeats)
    if "pretraining" in groups:
        for batch in batches:
            print(f"pre-training, batch {batch} ...", file=sys.stderr)
            rows += in_fresh_process("pretraining_rows", batch, args.repeats)
    if "data" in groups:
        print("data ...", file=sys.stderr)
        rows += in_fresh_process("data_rows", args.repeats)
    if "bf16" in groups:
        print("bf16 autocast ...", file=sys.stderr)
        rows += in_fresh_process("autocast_rows", args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        if "bf16" in groups:
            print("bf16 weights ...", file=sys.stderr)
            in_fresh_process("save_base_classifier", folder)  # the same random weights for both, saved once
            rows += in_fresh_process("bf16_weight_rows", folder, args.repeats)
            print("achieved rate, bf16 weights ...", file=sys.stderr)
            bf16_rate = in_fresh_process("bf16_rate_rows", folder, args.repeats)[0]
    if "checkpointing" in groups:
        print("gradient checkpointing, time ...", file=sys.stderr)
        checkpointing = dict(in_fresh_process("checkpointing_rows", args.repeats))
        rows.append((f"pre-training step (forward + backward), base, 90% tube mask, batch {CHECKPOINTING_BATCH}, "
                     "gradient checkpointing on both", "transformers (SDPA, `gradient_checkpointing_enable()`)",
                     checkpointing["ours, checkpointing"], checkpointing["theirs, checkpointing"]))
    if "memory" in groups or "checkpointing" in groups:
        print("memory ...", file=sys.stderr)
        memory, with_without = memory_rows(("classification", "pretraining") if "memory" in groups else ("pretraining",),
                                           checkpointing="checkpointing" in groups)
    if "memory" in groups:
        faults = page_fault_rows()
    if "rate" in groups:
        print("achieved rate ...", file=sys.stderr)
        forward, reference, matmuls = in_fresh_process("rate_rows", args.repeats)[0]
        paragraphs.append(rate_paragraph("Achieved rate of the classification forward (batch 1)", forward, reference,
                                         matmuls, "fp32"))
    if "bf16" in groups:
        forward, reference, matmuls = bf16_rate
        paragraphs.append(rate_paragraph("Achieved rate of the classification forward with bf16 weights (batch 1, both "
                                         "loaded with `dtype=torch.bfloat16`)", forward, reference, matmuls, "bf16"))
    if "notebooks" in groups:
        notebooks = notebook_rows()

    command = (f"python benchmarks/run.py --repeats {args.repeats}" + (" --quick" if args.quick else "")
               + (f" --only {args.only}" if args.only else "")
               + (f" --seconds-per-side {args.seconds_per_side:g}" if args.seconds_per_side is not None else ""))
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{command}` (or `make bench`) on "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; torch {torch.__version__}, transformers {transformers.__version__}. "
        f"Each row runs in a fresh process holding both models: medians of n interleaved repetitions after a warm-up "
        + (f"(at least {args.repeats}; more for quick rows, up to about {seconds:.0f} s per side), (min-max, n); "
           if seconds > 0 else f"({args.repeats} each), (min-max, n); ")
        + "ratio = ours / reference "
        "(below 1: ours is faster). fp32 unless stated. No GPU was lent to the session that made this table.",
    ]
    if args.quick or args.only is not None:
        lines += ["", f"A partial run ({'--quick' if args.quick else ''}{' ' if args.quick and args.only else ''}"
                      f"{'--only ' + args.only if args.only else ''}): a smoke test, not results."]
    if rows:
        lines += ["", "| what | reference | videomae_minimal | reference time | ratio |", "|---|---|---|---|---|"]
    for what, reference, ours, theirs in rows:
        lines.append(f"| {what} | {reference} | {fmt(ours)} | {fmt(theirs)} | **{ours[0] / theirs[0]:.2f}** |")
    if memory:
        lines += ["", "| peak memory (MB above the loaded model; median of 3 fresh processes, glibc mmap threshold fixed "
                  "at 64 KB so that RSS follows the live tensors) | videomae_minimal | transformers | ratio |",
                  "|---|---|---|---|"]
    for what, ours, theirs in memory:
        lines.append(f"| {what} | {ours:.0f} | {theirs:.0f} | **{ours / theirs:.2f}** |")
    for batch, counts in faults:
        lines.append(f"| minor page faults in the second classification forward, batch {batch}, of a fresh process (the "
                     f"default allocator; first touches of fresh memory) | {counts['ours']} | {counts['theirs']} | "
                     f"{'**%.2f**' % (counts['ours'] / counts['theirs']) if counts['theirs'] else 'n/a (no faults on the reference side)'} |")
    if with_without:
        lines += ["", f"| gradient checkpointing (`model.gradient_checkpointing_enable()`), pre-training step (forward + "
                  f"backward), base, 90% tube mask, batch {CHECKPOINTING_BATCH} | peak MB without | peak MB with | "
                  "memory with / without | step without | step with | time with / without |", "|---|---|---|---|---|---|---|"]
        for side, name in (("ours", "videomae_minimal"), ("theirs", "transformers")):
            (without, on), plain, ckpt = with_without[side], checkpointing[side], checkpointing[f"{side}, checkpointing"]
            lines.append(f"| {name} | {without:.0f} | {on:.0f} | **{on / without:.2f}** | {fmt(plain)} | {fmt(ckpt)} | "
                         f"**{ckpt[0] / plain[0]:.2f}** |")
        gradients = checkpointing["gradient MB"]
        lines += ["", "Peak memory as in the table above (MB above the loaded model, median of 3 fresh processes per "
                  "case, the cases alternating); times from one fresh process holding both models, the four steps "
                  "interleaved, each model switched on or off before each of its steps. Both peaks include the "
                  f"parameters' gradients ({gradients['ours']:.0f} MB ours, {gradients['theirs']:.0f} MB transformers), "
                  "which checkpointing does not shrink: it saves activations only."]
    for paragraph in paragraphs:
        lines += ["", paragraph]
    if notebooks:
        lines += ["", "| notebook (executed top to bottom with nbclient) | seconds |", "|---|---|"]
        lines += [f"| {name} | {seconds:.1f} |" for name, seconds in notebooks]
        lines.append(f"| **all** | **{sum(s for _, s in notebooks):.1f}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    if out is not None:
        out.write_text(text)


if __name__ == "__main__":
    main()
