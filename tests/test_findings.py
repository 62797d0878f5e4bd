"""benchmarks/findings.py: the machinery behind notebook 10's findings (runs, records, their commands) at toy budgets,
and a record's commands reproduce its accuracy bit for bit; the committed results hold every curve over 3 seeds."""
import json
import shlex
import subprocess
import sys

from conftest import ROOT

FINDINGS = ROOT / "benchmarks" / "findings.py"
FIELDS = {"curve", "kind", "mask", "ratio", "labels_per_class", "seed", "lr", "accuracy", "steps", "seconds", "commands"}


def test_smoke_run_records_reproduce(tmp_path):
    work = tmp_path / "work"
    done = subprocess.run([sys.executable, str(FINDINGS), "--smoke", "--seeds", "1", "--out", str(tmp_path / "f"),
                           "--work", str(work)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "f.json").read_text())
    records = summary["records"]
    assert all(FIELDS <= set(r) for r in records)
    labels = {(r["kind"], r["labels_per_class"]) for r in records if r["curve"] == "labels"}
    assert labels == {(kind, k) for kind in ("pretrained", "scratch", "probe") for k in (1, 2)}
    assert {r["seed"] for r in records if r["curve"] == "labels"} == {0}
    assert "## Masking ratio" in (tmp_path / "f.md").read_text()
    record = next(r for r in records if r["kind"] == "probe")
    again = tmp_path / "again"
    again.mkdir()
    for command in record["commands"]:  # the user's commands, run from an empty folder
        parts = shlex.split(command)
        assert parts[0] == "videomae-minimal"
        rerun = subprocess.run([sys.executable, "-m", "videomae_minimal", *parts[1:]], capture_output=True, text=True,
                               cwd=again, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout)["accuracy"] == record["accuracy"]  # the evaluation's output, bit for bit


def test_committed_findings_cover_both_curves_over_three_seeds():
    summary = json.loads((ROOT / "videomae_minimal" / "data" / "findings.json").read_text())
    records = [r for r in summary["records"]]
    assert not summary["smoke"] and all(FIELDS <= set(r) for r in records)
    by_point = {}
    for r in records:
        if r["curve"] == "labels":
            by_point.setdefault(("labels", r["kind"], r["labels_per_class"]), set()).add(r["seed"])
        if r["curve"] == "masks" or (r["curve"] == "labels" and r["kind"] == "pretrained"
                                     and r["labels_per_class"] == summary["mask_curve_labels"]):  # the 90% tube point
            by_point.setdefault(("masks", r["mask"], r["ratio"]), set()).add(r["seed"])
    label_counts = {k for (curve, _, k) in by_point if curve == "labels"}
    assert len(label_counts) >= 5
    for kind in ("pretrained", "scratch", "probe"):
        assert all(len(by_point[("labels", kind, k)]) >= 3 for k in label_counts), kind
    masks = {(m, r) for (curve, m, r) in by_point if curve == "masks"}
    assert {("tube", 0.5), ("tube", 0.75), ("tube", 0.9), ("tube", 0.95), ("random", 0.75), ("random", 0.9)} <= masks
    assert all(len(by_point[("masks", m, r)]) >= 3 for m, r in masks)
    assert all(r["commands"][-1].startswith("videomae-minimal evaluate") for r in records)
