#!/usr/bin/env python3
"""The ablation table of notebook 10: what pre-training, its mask and motion itself do for the tiny model.

    python benchmarks/ablations.py --out benchmarks/ablations     # writes ablations.json and ablations.md

Every row uses the same budget (below), seed 0, one thread, and is evaluated on 400 new clips (seed 20251121).
Pre-training runs are shared between the rows that fine-tune from them. Takes ~15 minutes on one laptop core.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from videomae_minimal.runs import TrainingArgs, train
from videomae_minimal.training import SyntheticMotion, evaluate

PRETRAIN = dict(steps=800, batch_size=32, lr=1.5e-3, warmup_steps=100)
FINETUNE = dict(steps=400, batch_size=32, lr=1e-3, warmup_steps=50, num_labelled=800)
DATA, TEST_SEED, TEST_CLIPS = "synthetic:8000", 20251121, 400
ROWS = [  # name, pre-training (mask, ratio) or None, fine-tuning extras
    ("tube mask 0.9, then fine-tune", ("tube", 0.9), {}),
    ("tube mask 0.75, then fine-tune", ("tube", 0.75), {}),
    ("tube mask 0.5, then fine-tune", ("tube", 0.5), {}),
    ("random mask 0.9, then fine-tune", ("random", 0.9), {}),
    ("no pre-training (from scratch)", None, {}),
    ("tube mask 0.9, fine-tune on single frames", ("tube", 0.9), {"single_frame": True}),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="path stem: writes STEM.json and STEM.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    test = SyntheticMotion(TEST_CLIPS, seed=TEST_SEED)
    budget = (f"pre-training {PRETRAIN['steps']} steps x {PRETRAIN['batch_size']} clips of {DATA} (lr {PRETRAIN['lr']}); "
              f"fine-tuning {FINETUNE['steps']} steps x {FINETUNE['batch_size']} on {FINETUNE['num_labelled']} labelled "
              f"clips (lr {FINETUNE['lr']}); seed 0; accuracy on {TEST_CLIPS} new clips (seed {TEST_SEED}); chance 0.125")
    rows, began = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        pretrained = {}
        for name, pretraining, extra in ROWS:
            init = None
            if pretraining is not None:
                if pretraining not in pretrained:
                    mask, ratio = pretraining
                    out = Path(folder) / f"pre-{mask}-{ratio}"
                    print(f"pre-training: {mask} mask {ratio}", file=sys.stderr)
                    train(TrainingArgs("pretrain", DATA, mask=mask, mask_ratio=ratio, eval_data="", **PRETRAIN), out,
                          checkpoint_every=0, keep_checkpoints=1)
                    pretrained[pretraining] = str(out)
                init = pretrained[pretraining]
            print(f"fine-tuning: {name}", file=sys.stderr)
            run = train(TrainingArgs("finetune", DATA, init=init, eval_data="", **FINETUNE, **extra),
                        Path(folder) / f"fine-{len(rows)}", checkpoint_every=0, keep_checkpoints=1)
            result = evaluate(run["model"], test, single_frame=bool(extra.get("single_frame")), seed=0)
            rows.append({"name": name, "accuracy": result["accuracy"], "per_class": result["per_class"]})
    record = {"budget": budget, "command": "python benchmarks/ablations.py --out " + str(args.out),
              "minutes": round((time.perf_counter() - began) / 60, 1), "torch": torch.__version__, "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# Ablations of notebook 10", "", f"Budget: {budget}.", "", f"`{record['command']}`, "
             f"{record['minutes']} minutes, torch {torch.__version__}.", "", "| run | accuracy |", "|---|---|"]
    lines += [f"| {row['name']} | {row['accuracy']:.3f} |" for row in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
