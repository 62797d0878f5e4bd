#!/usr/bin/env python3
"""The paper's findings in miniature, over seeds: what masked pre-training buys the tiny model of notebook 10.

    python benchmarks/findings.py --out benchmarks/findings --json videomae_minimal/data/findings.json  # make findings
    python benchmarks/findings.py --smoke --out /tmp/f         # the same machinery at toy budgets, in a minute

Every run is a command line of the package, `--threads 1`, so a record's commands reproduce its accuracy bit for bit
on the same machine. Independent runs go to `--jobs` processes at a time (2 on this 2-core machine); pre-training
runs first, then the fine-tuning runs that start from them. Three curves, each point over `--seeds` seeds (the seed
of the pre-training, of the labelled subset and of the fine-tuning alike):

- labels: fine-tuning with K labelled clips per class (K in LABELS_PER_CLASS) from a 90% tube-mask pre-training,
  from scratch (the same model, random weights), and as a linear probe of the frozen pre-trained encoder;
- masks: fine-tuning with MASK_CURVE_LABELS clips per class after pre-training with each mask in MASKS;
- collapse: the diagnosis of the poor fine-tuning after low-ratio or random masks (learning rate, all 800 labels).

The labels and masks curves run at each fine-tuning rate of FINETUNE_LRS: a pre-trained encoder can stall near
chance at the default 1e-3, so one rate alone would compare the arms unfairly.

Each record: curve, kind (pretrained / scratch / probe), mask, ratio, labels_per_class, seed, lr, accuracy, steps,
seconds and the commands that reproduce it (pre-training, fine-tuning, evaluation). Accuracy is on 400 clips of a
seed no run trains on. Seconds are training time, as each run's training.json records it. With `--work`, a
run folder that already holds the same finished command is reused, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "videomae_minimal"]
PRETRAIN = dict(steps=800, batch_size=32, lr=1.5e-3, warmup_steps=100)
FINETUNE = dict(steps=400, batch_size=32, lr=1e-3, warmup_steps=50)
SMOKE_PRETRAIN = dict(steps=12, batch_size=8, lr=1.5e-3, warmup_steps=2)
SMOKE_FINETUNE = dict(steps=10, batch_size=8, lr=1e-3, warmup_steps=2)
DATA_CLIPS, TEST_CLIPS, TEST_SEED = 8000, 400, 20251121
LABELS_PER_CLASS = (1, 2, 5, 10, 25, 100)
MASK_CURVE_LABELS = 10
FINETUNE_LRS = (1e-3, 3e-3)  # each curve at two fine-tuning rates: from a pre-trained encoder, 1e-3 can stall at chance
PROBE_LRS = (3e-3,)  # a linear probe (two small layers) at the higher rate only: it keeps `make findings` under an hour
MASKS = (("tube", 0.5), ("tube", 0.75), ("tube", 0.9), ("tube", 0.95), ("random", 0.75), ("random", 0.9))
COLLAPSE = dict(masks=(("tube", 0.5), ("tube", 0.75), ("random", 0.9)), lrs=(1e-3, 3e-3), num_labelled=800)


def options(values: dict) -> list[str]:
    return [part for k, v in values.items() for part in (f"--{k.replace('_', '-')}", str(v))]


REUSED: list[str] = []  # the run folders of --work that held the finished run already


def run(command: list[str], out: Path) -> float:
    """Run one command of the package that trains into `out`; returns the training seconds its training.json records.

    A folder that already holds a finished run of the very same command is kept, not re-run: an interrupted
    `make findings` with `--work` picks up where it stopped. A failure stops everything, with its output."""
    record = out / "training.json"
    if finished(record, command):
        REUSED.append(out.name)
    else:
        shutil.rmtree(out, ignore_errors=True)  # an interrupted run's folder: start it afresh
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(record.read_text())["seconds"]


def finished(record: Path, command: list[str]) -> bool:
    "Whether `record` (a run's training.json) says the run finished, and ran exactly `command`."
    try:
        recorded = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    as_recorded = " ".join(["videomae-minimal", *command[3:]])  # as the CLI writes it into training.json
    return recorded.get("finished") is True and recorded.get("command") == as_recorded


def shown(command: list[str], work: Path) -> str:
    "The command as a user types it: the package's entry point, folders relative to the work folder."
    return shlex.join(["videomae-minimal", *command[3:]]).replace(str(work) + "/", "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="path stem: writes STEM.json and STEM.md")
    parser.add_argument("--json", type=Path, help="write the JSON here instead of STEM.json (`make findings`: into the "
                                                  "package data, videomae_minimal/data/findings.json, which notebook 10 draws)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per point (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side, one thread each (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="toy budgets and fewer points: checks the machinery only")
    parser.add_argument("--work", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    pretrain, finetune = (SMOKE_PRETRAIN, SMOKE_FINETUNE) if args.smoke else (PRETRAIN, FINETUNE)
    clips, test_clips = (64, 32) if args.smoke else (DATA_CLIPS, TEST_CLIPS)
    labels_per_class = (1, 2) if args.smoke else LABELS_PER_CLASS
    masks = MASKS[2:4] if args.smoke else MASKS
    mask_curve_labels = 2 if args.smoke else MASK_CURVE_LABELS
    collapse = dict(COLLAPSE, masks=masks[:1], lrs=COLLAPSE["lrs"][:1], num_labelled=16) if args.smoke else COLLAPSE
    lrs = FINETUNE_LRS[:1] if args.smoke else FINETUNE_LRS
    seeds = range(args.seeds)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)

        def pretrain_command(mask, ratio, seed):
            out = work / f"pre-{mask}-{ratio}-seed{seed}"
            return out, [*CLI, "pretrain", "--synthetic", str(clips), "--seed", str(seed), *options(pretrain), "--mask", mask,
                         "--mask-ratio", str(ratio), "--eval-synthetic", "0", "--checkpoint-every", "0", "--threads", "1",
                         "--quiet", "--out", str(out)]

        pretraining = {(mask, ratio, seed): pretrain_command(mask, ratio, seed) for mask, ratio in masks for seed in seeds}
        with ThreadPoolExecutor(args.jobs) as pool:
            seconds = dict(zip(pretraining, pool.map(lambda key: run(pretraining[key][1], pretraining[key][0]), pretraining)))
        print(f"{len(pretraining)} pre-training runs done, {time.perf_counter() - began:.0f} s", file=sys.stderr)

        jobs = []  # (record, fine-tuning command, its folder)
        for lr in lrs:
            for seed in seeds:
                for k in labels_per_class:
                    for kind in ("pretrained", "scratch", "probe"):
                        if kind == "probe" and lr not in PROBE_LRS and not args.smoke:
                            continue
                        jobs.append(dict(curve="labels", kind=kind, mask="tube" if kind != "scratch" else None,
                                         ratio=0.9 if kind != "scratch" else None, labels_per_class=k, seed=seed, lr=lr))
                for mask, ratio in masks:
                    if (mask, ratio) != ("tube", 0.9) or mask_curve_labels not in labels_per_class:  # the labels curve has it
                        jobs.append(dict(curve="masks", kind="pretrained", mask=mask, ratio=ratio,
                                         labels_per_class=mask_curve_labels, seed=seed, lr=lr))
        for mask, ratio in collapse["masks"]:
            for lr in collapse["lrs"]:
                jobs.append(dict(curve="collapse", kind="pretrained", mask=mask, ratio=ratio, labels_per_class=None,
                                 num_labelled=collapse["num_labelled"], seed=0, lr=lr))

        def finetune_and_evaluate(job):
            init = "none" if job["kind"] == "scratch" else str(pretraining[job["mask"], job["ratio"], job["seed"]][0])
            few_name = f"k{job['labels_per_class']}" if job["labels_per_class"] is not None else f"n{job['num_labelled']}"
            out = work / f"fine-{job['curve']}-{job['kind']}-{job['mask']}-{job['ratio']}-{few_name}-lr{job['lr']:g}-seed{job['seed']}"
            few = (["--labels-per-class", str(job["labels_per_class"])] if job["labels_per_class"] is not None
                   else ["--num-labelled", str(job["num_labelled"])])
            command = [*CLI, "finetune", "--init", init, "--synthetic", str(clips), "--seed", str(job["seed"]), *few,
                       *options({**finetune, "lr": job["lr"]}), *(["--linear-probe"] if job["kind"] == "probe" else []),
                       "--eval-synthetic", "0", "--checkpoint-every", "0", "--threads", "1", "--quiet", "--out", str(out)]
            evaluation = [*CLI, "evaluate", "--checkpoint", str(out), "--synthetic", str(test_clips), "--seed", str(TEST_SEED),
                          "--json"]
            spent = run(command, out)
            result = subprocess.run(evaluation, capture_output=True, text=True, cwd=ROOT, check=True)
            commands = [shown(command, work), shown(evaluation, work)]
            if job["kind"] != "scratch":
                commands.insert(0, shown(pretraining[job["mask"], job["ratio"], job["seed"]][1], work))
                spent += seconds[job["mask"], job["ratio"], job["seed"]]
            return {**job, "accuracy": json.loads(result.stdout)["accuracy"], "steps": finetune["steps"],
                    "pretrain_steps": pretrain["steps"] if job["kind"] != "scratch" else 0,
                    "seconds": round(spent, 1), "commands": commands}

        with ThreadPoolExecutor(args.jobs) as pool:
            records = list(pool.map(finetune_and_evaluate, jobs))
    minutes = round((time.perf_counter() - began) / 60, 1)
    budget = (f"pre-training {pretrain['steps']} steps x {pretrain['batch_size']} clips of synthetic:{clips} "
              f"(lr {pretrain['lr']}); fine-tuning {finetune['steps']} steps x {finetune['batch_size']} (lr "
              f"{finetune['lr']} unless stated); accuracy on {test_clips} new clips (seed {TEST_SEED}); chance 0.125")
    training = sum(seconds.values()) + sum(r["seconds"] - (seconds[r["mask"], r["ratio"], r["seed"]] if r["kind"] != "scratch"
                                                           else 0) for r in records)  # each run counted once
    summary = {"budget": budget, "minutes": minutes, "reused_runs": len(REUSED),
               "training_minutes": round(training / 60, 1), "seeds": args.seeds, "jobs": args.jobs, "smoke": args.smoke,
               "mask_curve_labels": mask_curve_labels,
               "command": shlex.join(["python", "benchmarks/findings.py", *(argv if argv is not None else sys.argv[1:])]),
               "records": records}
    write_atomic(args.json or args.out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    write_atomic(args.out.with_suffix(".md"), markdown(summary))
    print(markdown(summary))
    return 0


def points(summary, curve, key):
    "(label, mean, std, n, accuracies) per point of a curve, grouped by `key(record)`."
    groups: dict = {}
    for r in summary["records"]:
        if r["curve"] == curve or (curve == "masks" and r["curve"] == "labels" and r["kind"] == "pretrained"
                                   and r["labels_per_class"] == summary["mask_curve_labels"]):
            groups.setdefault(key(r), []).append(r["accuracy"])
    return [(label, statistics.mean(a), statistics.stdev(a) if len(a) > 1 else 0.0, len(a), a)
            for label, a in groups.items()]


def markdown(summary) -> str:
    records = summary["records"]
    lines = ["# The paper's findings in miniature", "", f"Budget: {summary['budget']}.", "",
             f"`{summary['command']}`: {len(records)} fine-tuning runs and their pre-trainings, {summary['minutes']} "
             f"minutes, {summary['jobs']} at a time ({summary['reused_runs']} finished runs reused from --work, not "
             f"re-trained); training time summed over the runs, one thread each: {summary['training_minutes']} minutes. "
             "Mean ± standard deviation over the seeds (n).", "",
             "## Labels per class", "", "| labels per class | kind | fine-tuning lr | accuracy | n |", "|---|---|---|---|---|"]
    for (k, kind, lr), mean, std, n, _ in sorted(points(summary, "labels", lambda r: (r["labels_per_class"], r["kind"], r["lr"]))):
        lines.append(f"| {k} | {kind} | {lr:g} | {mean:.3f} ± {std:.3f} | {n} |")
    lines += ["", f"## Masking ratio ({summary['mask_curve_labels']} labels per class)", "",
              "| mask | ratio | fine-tuning lr | accuracy | n |", "|---|---|---|---|---|"]
    for (mask, ratio, lr), mean, std, n, _ in sorted(points(summary, "masks", lambda r: (r["mask"], r["ratio"], r["lr"]))):
        lines.append(f"| {mask} | {ratio} | {lr:g} | {mean:.3f} ± {std:.3f} | {n} |")
    lines += ["", "## The collapse: fine-tuning learning rate, all labelled clips, seed 0", "",
              "| mask | ratio | lr | accuracy |", "|---|---|---|---|"]
    for r in sorted((r for r in records if r["curve"] == "collapse"), key=lambda r: (r["mask"], r["ratio"], r["lr"])):
        lines.append(f"| {r['mask']} | {r['ratio']} | {r['lr']:g} | {r['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    "The package's atomic writer (complete or absent, ordinary permissions), for a text file."
    from videomae_minimal.checkpoint_formats import write_atomic as write_file_atomic

    write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
