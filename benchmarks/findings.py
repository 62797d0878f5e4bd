#!/usr/bin/env python3
"""The paper's findings in miniature, over seeds: what masked pre-training buys notebook 10's miniature model.

    python benchmarks/findings.py --out benchmarks/findings --json data/findings.json  # make findings
    python benchmarks/findings.py --smoke --out /tmp/f         # the same machinery at toy budgets, in a few minutes

The miniature (notebook 10, section 8): the 8 motion classes over a flat background with pixel noise, 8 frames of
32x32 in 4x4 patches (a 4 x 8 x 8 grid), an encoder of 4 blocks 64 wide and a decoder of 1 block. Every run is a
command line of the package, `--threads 1`, so a record's commands reproduce it bit for bit on the same machine;
`--jobs` worker processes run them side by side (2 on this 2-core machine), pre-training first.

- Pre-training: PRETRAIN (at least 100,000 clip views) with each mask of MASKS, once each (seed 0): the seeds of a
  point vary the labelled subset, the fine-tuning's initialisation and data order, not the pre-training. Each pre-training passes or fails the reconstruction
  gate: its loss on the hidden tubelets the bar covers, against predicting zeros and copying the nearest visible one.
- Fine-tuning: K labelled clips per class (LABELS_PER_CLASS) from the seed's 8000 clips, FINETUNE steps, with the
  paper's recipe (RECIPES): the pre-trained encoder with layer-wise lr decay; the same network from scratch; a linear
  probe of the pre-trained encoder; a linear probe of a randomly initialised encoder (the probe's control). Both full
  arms get the same augmentation, label smoothing and drop path; the pre-trained arm starts its head at x0.001 (the
  paper's), the scratch arm at the usual initialisation, which measured better from random weights.
- Protocol: each arm runs at every learning rate of its grid (LRS) and seed; the rate whose mean accuracy over the
  seeds is best on VAL_CLIPS clips of VAL_SEED is `selected`; the reported number is that rate's accuracy on
  TEST_CLIPS clips of TEST_SEED, which no choice looked at. Mask ratios are recorded as the share of tokens actually
  hidden (`ratio_actual`); random masking runs at the actual ratio of the 90% tube mask. The mask curve's other masks
  run at the rate the 90% tube mask chose on validation at MASK_CURVE_LABELS labels per class.

With `--work`, a run folder that already holds the same finished command is kept, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "videomae_minimal"]
SETUP = ["--model", "miniature", "--scene", "flat"]
DATA_CLIPS = 8000
PRETRAIN = dict(steps=1600, batch_size=64, lr=1.5e-3, warmup_steps=160)  # 102,400 clip views
FINETUNE = dict(steps=200, batch_size=16, warmup_steps=20)  # 3,200 clip views
SMOKE_PRETRAIN = dict(steps=6, batch_size=8, lr=1.5e-3, warmup_steps=2)
SMOKE_FINETUNE = dict(steps=4, batch_size=8, warmup_steps=1)
VAL_CLIPS, VAL_SEED, TEST_CLIPS, TEST_SEED, GATE_CLIPS, GATE_SEED = 400, 20261201, 400, 20261202, 256, 20261203
LABELS_PER_CLASS = (1, 2, 5, 10, 25)
MASK_CURVE_LABELS = 5
HEADLINE = ("tube", 0.9)
MASKS = (("tube", 0.5), ("tube", 0.75), ("tube", 0.9), ("tube", 0.95), ("random", 0.890625))  # 57/64 = 228/256
COMMON = dict(drop_path=0.1, label_smoothing=0.1, head_init_scale=0.001)
# The scratch arm starts its head at the usual initialisation: the paper's x0.001 suits a pre-trained encoder, and from
# random weights it held the arm back (PREVIOUS_DESIGNS, 2026-12-02).
RECIPES = {"pretrained": dict(COMMON, layer_decay=0.75), "scratch": dict(COMMON, layer_decay=1.0, head_init_scale=1.0),
           "probe": dict(label_smoothing=0.1, head_init_scale=0.001), "probe_random": dict(label_smoothing=0.1, head_init_scale=0.001)}
# Each arm's grid, from a pilot at 10 labels per class on clips of another seed: at 1e-3 both full arms stalled.
LRS = {"pretrained": (3e-3, 1e-2), "scratch": (3e-3, 1e-2), "probe": (1e-2, 3e-2), "probe_random": (1e-2, 3e-2)}
PREVIOUS_DESIGNS = [{  # dated entries of the designs this one replaces, with their numbers (findings.md, git history)
    "date": "2026-11-21",
    "design": "16 frames of 32x32 in 8x8 patches (a 4x4 grid), a background colour with a brightness gradient, 3 encoder "
              "blocks; pre-training 800 steps x 32 clips (25,600 clip views); fine-tuning 400 steps x 32 with one lr for "
              "every layer, no drop path, label smoothing or augmentation; lr picked on the test clips",
    "numbers": {"10 labels per class": {"pretrained": "0.30 +- 0.05", "scratch": "0.67 +- 0.03"},
                "probe": "at chance at every label count, with no random-encoder control",
                "object_loss": 1.26, "background_loss": 0.19, "zeros_loss": 1.0},
    "why_it_failed": "pre-training 2-4 orders of magnitude shorter than small-data MAE results; norm-pix targets dominated "
                     "by background gradients, so the decoder never rebuilt the bar (loss 1.26 on its tubelets, worse than "
                     "zeros); at 90% tube masking a 4x4 grid showed the bar in about half the time steps; no layer decay; "
                     "'0.9' tube and random masks hid different shares (0.875 and 0.898)",
}, {
    "date": "2026-12-02",
    "design": "this design, but the scratch arm with the paper's head initialisation (x0.001) and a separate control "
              "script for the scratch arm at the usual one (x1, 1, 2 and 10 labels per class); every run, and each of "
              "its two evaluations, in a process of its own",
    "numbers": {"scratch, head x0.001": {"1": "0.164 +- 0.048", "2": "0.297 +- 0.282", "5": "0.433 +- 0.249",
                                         "10": "0.654 +- 0.116", "25": "0.665 +- 0.144"},
                "scratch, head x1 (the control)": {"1": "0.218 +- 0.017", "2": "0.385 +- 0.200", "10": "0.861 +- 0.007"},
                "minutes": "102.8 + 12.4 for the control"},
    "why_it_failed": "the small head suits a pre-trained encoder, not random weights: at every label count measured the "
                     "control beat the scratch arm, so the arm pre-training was compared against was weaker than it had "
                     "to be; and the 115 minutes were over the 90 aimed at, about a fifth of them spent starting Python "
                     "and torch for each run and evaluation",
}]


def options(values: dict) -> list[str]:
    "--key value pairs (True flags alone, False ones left out)."
    out = []
    for k, v in values.items():
        flag = f"--{k.replace('_', '-')}"
        out += [flag] if v is True else [] if v is False else [flag, str(v)]
    return out


REUSED: list[str] = []  # the run folders of --work that held the finished run already


def in_worker(commands: list[list[str]]) -> list[str]:
    """Run commands of the package's CLI here, in a worker process, one after the other; returns what each printed.
    A worker serves many runs, so the interpreter and torch start once, not three times a run (about a sixth of the
    time when every run was its own three processes). Each run seeds its own random streams, so a run gives here
    what its command gives in a fresh process (tests/test_findings.py checks that on a record)."""
    import contextlib
    import io

    import torch

    from videomae_minimal.cli import main as cli

    torch.set_num_threads(1)  # every run on one thread, as its `--threads 1`; `evaluate` too
    printed = []
    for command in commands:
        stdout, stderr = io.StringIO(), io.StringIO()
        sys.argv = ["videomae-minimal", *command[3:]]  # what the CLI records as the run's command in training.json
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = cli(command[3:])
        if status != 0:
            raise RuntimeError(f"{shlex.join(command)} failed (exit {status}):\n{stderr.getvalue()[-2000:]}")
        printed.append(stdout.getvalue())
    return printed


WORKERS: list = []  # the process pool the runs go to (main makes it: --jobs processes)


def in_pool(function, *arguments):
    "Run function(*arguments) in a worker process and wait for it (this thread only orchestrates)."
    return WORKERS[0].submit(function, *arguments).result()


def run(command: list[str], out: Path) -> float:
    """Run one command of the package that trains into `out`; returns the training seconds its training.json records.
    A folder that already holds a finished run of the very same command is kept, not re-run."""
    record = out / "training.json"
    if finished(record, command):
        REUSED.append(out.name)
    else:
        shutil.rmtree(out, ignore_errors=True)  # an interrupted run's folder: start it afresh
        in_pool(in_worker, [command])
    return json.loads(record.read_text())["seconds"]


def finished(record: Path, command: list[str]) -> bool:
    "Whether `record` (a run's training.json) says the run finished, and ran exactly `command`."
    try:
        recorded = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    as_recorded = " ".join(["videomae-minimal", *command[3:]])  # as the CLI writes it into training.json
    return recorded.get("finished") is True and recorded.get("command") == as_recorded


def accuracies(commands: dict[str, list[str]], out: Path) -> dict[str, float]:
    """The accuracies `evaluate --json` commands print ({name: command}), each kept beside the run in `out` for a
    resumed `make findings`."""
    def key(command):
        return out.parent / f".{out.name}.{hashlib.sha256(shlex.join(command[3:]).encode()).hexdigest()[:12]}.json"

    missing = [command for command in commands.values() if not key(command).is_file()]
    for command, printed in zip(missing, in_pool(in_worker, missing) if missing else []):
        key(command).write_text(printed)
    return {name: json.loads(key(command).read_text())["accuracy"] for name, command in commands.items()}


def shown(command: list[str], work: Path) -> str:
    "The command as a user types it: the package's entry point, folders relative to the work folder."
    return shlex.join(["videomae-minimal", *command[3:]]).replace(str(work) + "/", "")


def plan(args) -> dict:
    "What to run: budgets, label counts, masks and learning rates (smaller with --smoke)."
    if args.smoke:
        return dict(pretrain=SMOKE_PRETRAIN, finetune=SMOKE_FINETUNE, clips=64, val=(16, VAL_SEED), test=(16, TEST_SEED),
                    gate=(8, GATE_SEED), labels=(1, 2), mask_labels=1, masks=(HEADLINE, ("random", 0.890625)),
                    lrs={kind: rates[:1] for kind, rates in LRS.items()})
    return dict(pretrain=PRETRAIN, finetune=FINETUNE, clips=DATA_CLIPS, val=(VAL_CLIPS, VAL_SEED),
                test=(TEST_CLIPS, TEST_SEED), gate=(GATE_CLIPS, GATE_SEED), labels=LABELS_PER_CLASS,
                mask_labels=MASK_CURVE_LABELS, masks=MASKS, lrs=LRS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="path stem: writes STEM.json and STEM.md")
    parser.add_argument("--json", type=Path, help="write the JSON here instead of STEM.json (`make findings`: into the "
                                                  "package data, data/findings.json, which notebook 10 draws)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per point (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side, one thread each (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="toy budgets and fewer points: checks the machinery only")
    parser.add_argument("--work", type=Path, help="keep the run folders here, and resume from them (default: a temporary folder)")
    args = parser.parse_args(argv)
    p = plan(args)
    seeds = list(range(args.seeds))
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        pretrainings = {(mask, ratio, 0): pretrain_command(p, work, mask, ratio, 0) for mask, ratio in p["masks"]}
        # One queue, taken in order: the pre-trainings first, then the runs that need none (scratch, the random
        # probe), then those that start from one, which by then has started (or ended): no worker idles in between.
        os.environ["PYTHONHASHSEED"] = "0"  # the workers start with it, as each run's own process did before
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as workers, \
                ThreadPoolExecutor(args.jobs) as pool:  # `jobs` threads hand work to `jobs` processes, and wait
            WORKERS[:] = [workers]
            pretrained = {key: pool.submit(pretrain_and_gate, p, work, key, *pretrainings[key]) for key in pretrainings}
            jobs = finetuning_jobs(p, seeds)
            runs = [pool.submit(finetune, p, work, job, pretrainings, pretrained) for job in jobs]
            headline = [run for run, job in zip(runs, jobs) if job["kind"] == "pretrained"
                        and job["labels_per_class"] == p["mask_labels"]]  # started before any mask run: no deadlock
            runs += [pool.submit(lambda job: finetune(p, work, {**job, "lr": chosen_lr(headline)}, pretrainings,
                                                      pretrained), job) for job in mask_curve_jobs(p, seeds)]
            gate = [future.result() for future in pretrained.values()]
            records = [future.result() for future in runs]
    select(records)
    minutes = round((time.perf_counter() - began) / 60, 1)
    summary = {"design": design(p), "minutes": minutes, "reused_runs": len(REUSED), "seeds": args.seeds, "jobs": args.jobs,
               "smoke": args.smoke, "mask_curve_labels": p["mask_labels"],
               "command": shlex.join(["python", "benchmarks/findings.py", *(argv if argv is not None else sys.argv[1:])]),
               "previous_designs": PREVIOUS_DESIGNS, "gate": gate, "records": records}
    write_atomic(args.json or args.out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    write_atomic(args.out.with_suffix(".md"), markdown(summary))
    print(markdown(summary))
    return 0


def miniature_grid() -> tuple[int, int, int]:
    "The miniature's tubelet grid (T', H', W'), as its config computes it."
    from videomae_minimal.config import VideoMAEConfig
    from videomae_minimal.training import MINIATURE

    return VideoMAEConfig(**MINIATURE).grid


def pretrain_command(p, work: Path, mask: str, ratio: float, seed: int) -> tuple[Path, list[str]]:
    out = work / f"pre-{mask}-{ratio}-seed{seed}"
    return out, [*CLI, "pretrain", "--synthetic", str(p["clips"]), "--seed", str(seed), *SETUP, *options(p["pretrain"]),
                 "--mask", mask, "--mask-ratio", str(ratio), "--eval-synthetic", "0", "--checkpoint-every", "0",
                 "--threads", "1", "--quiet", "--out", str(out)]


def pretrain_and_gate(p, work: Path, key, out: Path, command: list[str]) -> dict:
    "Pre-train (or find the finished run in `out`), then measure its reconstruction gate on one thread."
    seconds = run(command, out)
    print(f"pre-training {out.name} done, {seconds:.0f} s", file=sys.stderr, flush=True)
    return {**gate_entry(p, work, key, out, command), "seconds": seconds}


def measure_gate(out: Path, count: int, gate_seed: int, ratio: float, mask: str) -> dict:
    "The reconstruction gate of the pre-training in `out`, on `count` clips of `gate_seed` (in a worker, one thread)."
    import torch

    from videomae_minimal import from_pretrained
    from videomae_minimal.training import SyntheticMotion, reconstruction_gate

    torch.set_num_threads(1)
    model = from_pretrained(out)
    data = SyntheticMotion(count, gate_seed, model.config.num_frames, model.config.image_size, "flat")
    return reconstruction_gate(model, data, ratio, mask, seed=gate_seed)


def gate_entry(p, work: Path, key, out: Path, command: list[str]) -> dict:
    "The reconstruction gate of one pre-training (cached in its run folder)."
    from videomae_minimal.training import actual_mask_ratio

    mask, ratio, seed = key
    cache = out / "gate.json"
    if not (cache.is_file() and json.loads(cache.read_text()).get("command") == command[3:]):
        measured = in_pool(measure_gate, out, *p["gate"], ratio, mask)
        cache.write_text(json.dumps({"command": command[3:], **measured}))
    measured = {k: v for k, v in json.loads(cache.read_text()).items() if k != "command"}
    return {"mask": mask, "ratio": ratio, "ratio_actual": actual_mask_ratio(miniature_grid(), ratio, mask), "seed": seed,
            "pretrain_clip_views": p["pretrain"]["steps"] * p["pretrain"]["batch_size"],
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in measured.items()},
            "command": shown(command, work)}


def finetuning_jobs(p, seeds) -> list[dict]:
    "The runs of the labels curve, each arm at every learning rate of its grid: no pre-training needed first, then the rest."
    jobs = []
    for seed in seeds:
        for kind, rates in p["lrs"].items():
            for lr in rates:
                for k in p["labels"]:
                    mask, ratio = (None, None) if kind in ("scratch", "probe_random") else HEADLINE
                    jobs.append(dict(curve="labels", kind=kind, mask=mask, ratio=ratio, labels_per_class=k, seed=seed, lr=lr))
    needs = {"scratch": 0, "probe_random": 0, "pretrained": 1, "probe": 1}  # needing no pre-training first; then long runs first
    return sorted(jobs, key=lambda job: (needs[job["kind"]], job["kind"].startswith("probe")))


def mask_curve_jobs(p, seeds) -> list[dict]:
    """The runs of the mask curve: the pre-trained arm at MASK_CURVE_LABELS labels per class, for every mask but the
    headline's (the labels curve has it), at the learning rate the headline chose on validation (`lr` None until then).
    One fine-tuning recipe for every mask, as in the paper's ablations."""
    assert p["mask_labels"] in p["labels"], "the mask curve takes its learning rate from the labels curve"
    return [dict(curve="masks", kind="pretrained", mask=mask, ratio=ratio, labels_per_class=p["mask_labels"], seed=seed,
                 lr=None) for seed in seeds for mask, ratio in p["masks"] if (mask, ratio) != HEADLINE]


def chosen_lr(runs: list) -> float:
    "The learning rate `select` chooses among finished runs of one group (futures of records): best mean validation."
    by_lr: dict = {}
    for future in runs:
        record = future.result()
        by_lr.setdefault(record["lr"], []).append(record["val_accuracy"])
    return max(sorted(by_lr), key=lambda lr: statistics.mean(by_lr[lr]))


def finetune(p, work: Path, job: dict, pretrainings: dict, pretrained: dict) -> dict:
    "Fine-tune, then evaluate on the validation and the test clips: one record."
    from videomae_minimal.training import actual_mask_ratio

    kind, seed = job["kind"], job["seed"]
    source = None
    if kind in ("pretrained", "probe"):
        source = (job["mask"], job["ratio"], 0)
    init = str(pretrainings[source][0]) if source else "none"
    if source:
        pretrained[source].result()  # started before this run was taken from the queue: wait for it to end
    out = work / (f"fine-{job['curve']}-{kind}-{job['mask']}-{job['ratio']}-k{job['labels_per_class']}-lr{job['lr']:g}"
                  f"-seed{seed}")
    recipe = dict(RECIPES[kind], linear_probe=kind.startswith("probe"), augment=True)
    command = [*CLI, "finetune", "--init", init, "--synthetic", str(p["clips"]), "--seed", str(seed), *SETUP,
               "--labels-per-class", str(job["labels_per_class"]), *options({**p["finetune"], "lr": job["lr"]}),
               *options(recipe), "--eval-synthetic", "0", "--checkpoint-every", "0", "--threads", "1", "--quiet",
               "--out", str(out)]
    evaluations = {name: [*CLI, "evaluate", "--checkpoint", str(out), "--synthetic", str(count), "--seed", str(data_seed),
                          "--scene", "flat", "--json"] for name, (count, data_seed) in (("val", p["val"]), ("test", p["test"]))}
    spent = run(command, out)
    result = accuracies(evaluations, out)
    commands = [shown(command, work), shown(evaluations["val"], work), shown(evaluations["test"], work)]
    if source:
        commands.insert(0, shown(pretrainings[source][1], work))
        spent += pretrained[source].result()["seconds"]
    return {**job, "ratio_actual": actual_mask_ratio(miniature_grid(), job["ratio"], job["mask"]) if job["mask"] else None,
            "layer_decay": recipe.get("layer_decay", 1.0), "val_accuracy": result["val"], "test_accuracy": result["test"],
            "selected": False, "pretrain_clip_views": p["pretrain"]["steps"] * p["pretrain"]["batch_size"] if source else 0,
            "pretrain_seed": source[2] if source else None, "steps": p["finetune"]["steps"], "seconds": round(spent, 1),
            "commands": commands}


def group_key(r: dict) -> tuple:
    return (r["curve"] if r["curve"] == "masks" else "labels", r["kind"], r["mask"], r["ratio"], r["labels_per_class"])


def select(records: list[dict]) -> None:
    "Mark, in each group, the learning rate with the best mean validation accuracy over the seeds (ties: the smaller)."
    groups: dict = {}
    for r in records:
        groups.setdefault(group_key(r), {}).setdefault(r["lr"], []).append(r)
    for by_lr in groups.values():
        best = max(sorted(by_lr), key=lambda lr: statistics.mean(r["val_accuracy"] for r in by_lr[lr]))
        for r in by_lr[best]:
            r["selected"] = True


def design(p) -> str:
    pre, fine = p["pretrain"], p["finetune"]
    return (f"the miniature: {p['clips']} clips per seed of the flat scene, 8 frames of 32x32, 4x4 patches; pre-training "
            f"{pre['steps']} steps x {pre['batch_size']} clips ({pre['steps'] * pre['batch_size']:,} clip views, lr "
            f"{pre['lr']}); fine-tuning {fine['steps']} steps x {fine['batch_size']} with the paper's recipe "
            f"({RECIPES['pretrained']}; scratch without layer decay, its head at x1), mirrors, time reversal and shifts for "
            f"every arm; lr chosen on {p['val'][0]} clips of seed {p['val'][1]}, accuracy on {p['test'][0]} clips of seed {p['test'][1]}; "
            f"chance 0.125")


def points(records, keep) -> dict:
    "{group: (mean, std, n)} of the selected records `keep` accepts: test accuracy over the seeds."
    groups: dict = {}
    for r in records:
        if r["selected"] and keep(r):
            groups.setdefault(group_key(r), []).append(r)
    return {key: (statistics.mean(r["test_accuracy"] for r in rs),
                  statistics.stdev(r["test_accuracy"] for r in rs) if len(rs) > 1 else 0.0, len(rs), rs[0]["lr"])
            for key, rs in sorted(groups.items(), key=lambda item: str(item[0]))}


def markdown(summary) -> str:
    records = summary["records"]
    lines = ["# The paper's findings in miniature", "", f"Design: {summary['design']}.", "",
             f"`{summary['command']}`: {len(records)} fine-tuning runs and {len(summary['gate'])} pre-trainings, "
             f"{summary['minutes']} minutes, {summary['jobs']} at a time ({summary['reused_runs']} finished runs reused "
             "from --work). Test accuracy at the learning rate chosen on validation, mean ± standard deviation over the "
             "seeds (n).", "", "## Reconstruction gate", "",
             "| mask | ratio (actual) | seed | object loss | zeros | copy nearest | background | passed |",
             "|---|---|---|---|---|---|---|---|"]
    for g in summary["gate"]:
        lines.append(f"| {g['mask']} | {g['ratio']} ({g['ratio_actual']:.4f}) | {g['seed']} | {g['object_loss']:.3f} | "
                     f"{g['zeros_loss']:.3f} | {g['copy_loss']:.3f} | {g['background_loss']:.3f} | {g['passed']} |")
    lines += ["", "## Labels per class", "", "| labels per class | kind | chosen lr | test accuracy | n |", "|---|---|---|---|---|"]
    labelled = points(records, lambda r: r["curve"] == "labels")
    for (_, kind, _, _, k), (mean, std, n, lr) in sorted(labelled.items(), key=lambda item: (item[0][4], item[0][1])):
        lines.append(f"| {k} | {kind} | {lr:g} | {mean:.3f} ± {std:.3f} | {n} |")
    lines += ["", f"## Masking ratio ({summary['mask_curve_labels']} labels per class, pre-trained arm)", "",
              "| mask | ratio | actual ratio | chosen lr | test accuracy | n |", "|---|---|---|---|---|---|"]
    k = summary["mask_curve_labels"]
    masked = points(records, lambda r: r["kind"] == "pretrained" and r["labels_per_class"] == k)
    actual = {(r["mask"], r["ratio"]): r["ratio_actual"] for r in records if r["mask"]}
    for (_, _, mask, ratio, _), (mean, std, n, lr) in sorted(masked.items(), key=lambda item: (item[0][2], item[0][3])):
        lines.append(f"| {mask} | {ratio} | {actual[mask, ratio]:.4f} | {lr:g} | {mean:.3f} ± {std:.3f} | {n} |")
    for previous in summary["previous_designs"]:
        lines += ["", f"## A previous design ({previous['date']})", "", f"{previous['design']}. Numbers: "
                  f"{json.dumps(previous['numbers'])}. Why it was replaced: {previous['why_it_failed']}."]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    "The package's atomic writer (complete or absent, ordinary permissions), for a text file."
    from videomae_minimal.files import write_atomic as write_file_atomic

    write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
