"""benchmarks/findings.py: the machinery behind notebook 10's findings (runs, the gate, records and their commands) at
toy budgets, a record's commands reproduce its test accuracy bit for bit, and the committed findings follow the
protocol: the learning rate chosen on validation, actual mask ratios, every point over 3 seeds, within 90 minutes."""
import json
import shlex
import statistics
import subprocess
import sys

from conftest import ROOT

FINDINGS = ROOT / "benchmarks" / "findings.py"
FIELDS = {"kind", "mask", "ratio", "ratio_actual", "labels_per_class", "seed", "lr", "layer_decay", "val_accuracy",
          "test_accuracy", "selected", "pretrain_clip_views", "commands", "seconds"}
GATE_FIELDS = {"mask", "ratio", "ratio_actual", "object_loss", "baseline_loss", "zeros_loss", "copy_loss", "passed"}


def test_smoke_run_records_reproduce(tmp_path):
    work = tmp_path / "work"
    done = subprocess.run([sys.executable, str(FINDINGS), "--smoke", "--seeds", "1", "--out", str(tmp_path / "f"),
                           "--work", str(work)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "f.json").read_text())
    records = summary["records"]
    assert records and all(FIELDS <= set(r) for r in records)
    assert all(GATE_FIELDS <= set(g) for g in summary["gate"]) and len(summary["gate"]) == 2
    kinds = {(r["kind"], r["labels_per_class"]) for r in records if r["curve"] == "labels"}
    assert kinds == {(kind, k) for kind in ("pretrained", "scratch", "probe", "probe_random") for k in (1, 2)}
    assert "## Reconstruction gate" in (tmp_path / "f.md").read_text()
    record = next(r for r in records if r["kind"] == "probe")
    again = tmp_path / "again"
    again.mkdir()
    for command in record["commands"]:  # the user's commands, run from an empty folder
        parts = shlex.split(command)
        assert parts[0] == "videomae-minimal"
        rerun = subprocess.run([sys.executable, "-m", "videomae_minimal", *parts[1:]], capture_output=True, text=True,
                               cwd=again, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout)["accuracy"] == record["test_accuracy"]  # the last command: the test accuracy
    resumed = subprocess.run([sys.executable, str(FINDINGS), "--smoke", "--seeds", "1", "--out", str(tmp_path / "g"),
                              "--work", str(work)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "g.json").read_text())["reused_runs"] == len(records) + 2  # nothing trained again
    headline = {r["lr"] for r in records if r["kind"] == "pretrained" and r["curve"] == "labels" and r["selected"]
                and r["labels_per_class"] == summary["mask_curve_labels"]}
    masks = [r for r in records if r["curve"] == "masks"]  # the other masks, at the rate the headline chose
    assert [(r["mask"], r["lr"], r["selected"]) for r in masks] == [("random", *headline, True)]


def test_committed_findings_follow_the_protocol():
    "The committed results: the format notebook 10 reads, and the protocol re-checked from the records themselves."
    summary = json.loads((ROOT / "data" / "findings.json").read_text())
    records, gate = summary["records"], summary["gate"]
    assert not summary["smoke"] and all(FIELDS <= set(r) for r in records) and all(GATE_FIELDS <= set(g) for g in gate)
    assert [d["date"] for d in summary["previous_designs"]] == ["2026-11-21", "2026-12-02"]
    assert summary["minutes"] <= 90  # the budget make findings is held to (2 cores)
    groups = {}
    for r in records:
        groups.setdefault((r["curve"], r["kind"], r["mask"], r["ratio"], r["labels_per_class"]), {}).setdefault(
            r["lr"], []).append(r)
    for key, by_lr in groups.items():
        assert all(len({r["seed"] for r in rs}) >= 3 for rs in by_lr.values()), key
        if key[0] == "masks":  # one rate: the one the headline chose on validation at the same label count
            headline = groups["labels", "pretrained", "tube", 0.9, key[4]]
            assert list(by_lr) == [next(lr for lr, rs in headline.items() if rs[0]["selected"])], key
            continue
        assert len(by_lr) >= 2, key
        best = max(sorted(by_lr), key=lambda lr: statistics.mean(r["val_accuracy"] for r in by_lr[lr]))
        assert all(r["selected"] == (lr == best) for lr, rs in by_lr.items() for r in rs), key  # chosen on validation
    label_counts = {k for (curve, kind, _, _, k) in groups if curve == "labels"}
    assert len(label_counts) >= 5
    assert {kind for (_, kind, _, _, _) in groups} == {"pretrained", "scratch", "probe", "probe_random"}
    tube = sorted(r for (_, kind, m, r, _) in groups if kind == "pretrained" and m == "tube")
    assert len(tube) >= 4 and any(m == "random" for (_, _, m, _, _) in groups)
    # 64 positions a frame, 256 tokens: tube hides int(ratio * 64) a frame, random int(ratio * 256) in all
    for r in records:
        if r["mask"] == "tube":
            assert r["ratio_actual"] == int(r["ratio"] * 64) / 64
        elif r["mask"] == "random":
            assert r["ratio_actual"] == int(r["ratio"] * 256) / 256
    random_actual = {r["ratio_actual"] for r in records if r["mask"] == "random"}
    assert random_actual <= {r["ratio_actual"] for r in records if r["mask"] == "tube"}  # compared at the same share
    assert all(r["pretrain_clip_views"] >= 100_000 for r in records if r["kind"] in ("pretrained", "probe"))
    assert all(r["commands"][-1].startswith("videomae-minimal evaluate") for r in records)
    for g in gate:
        assert g["baseline_loss"] == min(g["zeros_loss"], g["copy_loss"])
        assert g["passed"] == (g["object_loss"] < g["baseline_loss"])
