#!/usr/bin/env python3
"""A control for notebook 10's findings: is the scratch arm held back by the recipe's small head?

    python benchmarks/findings_controls.py --findings videomae_minimal/data/findings.json --work out/findings-work \
        --markdown benchmarks/findings.md   # make findings runs it last

The recipe initialises the new head at x0.001 (the original's init_scale), which suits a pre-trained encoder; from
random weights it may keep a run on its starting plateau. This runs the scratch arm again with the head at its usual
initialisation (`--head-init-scale 1`), at the same label counts, seeds and learning rates, with the same protocol
(the rate chosen on validation), and adds the records to findings.json under `controls`, with their commands.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import findings  # noqa: E402  (the script beside this one: the same runs, commands and protocol)

LABELS = (1, 2, 10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=Path, required=True, help="the findings.json to add the controls to")
    parser.add_argument("--work", type=Path, required=True, help="the run folders (resumes, as findings.py)")
    parser.add_argument("--markdown", type=Path, help="rewrite this summary (benchmarks/findings.md) with the controls")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    summary = json.loads(args.findings.read_text())
    p = findings.plan(argparse.Namespace(smoke=summary["smoke"]))
    findings.RECIPES["scratch_head1"] = dict(findings.RECIPES["scratch"], head_init_scale=1.0)
    jobs = [dict(curve="labels", kind="scratch_head1", mask=None, ratio=None, labels_per_class=k, seed=seed, lr=lr)
            for seed in range(summary["seeds"]) for lr in p["lrs"]["scratch"] for k in (LABELS if not summary["smoke"] else (1,))]
    began = time.perf_counter()
    work = args.work.resolve()
    with ThreadPoolExecutor(args.jobs) as pool:
        records = list(pool.map(lambda job: findings.finetune(p, work, job, {}, {}), jobs))
    findings.select(records)
    summary["controls"] = records
    summary["controls_minutes"] = round((time.perf_counter() - began) / 60, 1)
    findings.write_atomic(args.findings, json.dumps(summary, indent=1) + "\n")
    if args.markdown:
        findings.write_atomic(args.markdown, findings.markdown(summary))
    for r in sorted(records, key=lambda r: (r["labels_per_class"], r["lr"], r["seed"])):
        print(r["labels_per_class"], r["lr"], r["seed"], r["val_accuracy"], r["test_accuracy"], r["selected"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
