"benchmarks/gpu.py runs end to end on a CPU with --tiny, writes its table, and refuses a CUDA device it has not got."
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu.py"


def run_gpu(*args, timeout=120):
    return subprocess.run([sys.executable, str(GPU), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_gpu_benchmark_tiny_on_cpu(tmp_path):
    out = tmp_path / "gpu.md"
    result = run_gpu("--device", "cpu", "--tiny", "--repeats", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in result.stdout  # the file holds what was printed
    assert not list(tmp_path.glob(".gpu.md.*"))  # no temporary file left beside it
    assert "torch " + torch.__version__ in text and "transformers " in text and "CPU" in text
    number = r"\d+\.\d+"
    for batch in (1, 2):
        for dtype in ("float32", "float16", "bfloat16"):  # every dtype runs on a CPU
            row = re.search(rf"^\| {batch} \| {dtype} \|(.*)\|$", text, re.M)
            assert row, f"no row for batch {batch}, {dtype}:\n{text}"
            cells = [c.strip() for c in row.group(1).split("|")]
            # ours eager, transformers eager, ours SDPA, transformers SDPA: all measured
            assert all(re.fullmatch(number, c) and float(c) > 0 for c in cells[:4]), cells
    header = next(line for line in text.splitlines() if line.startswith("| batch | dtype"))
    assert "ours eager" in header and "transformers eager" in header and "ours SDPA" in header and "transformers SDPA" in header


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda would run")
def test_gpu_benchmark_refuses_missing_cuda(tmp_path):
    out = tmp_path / "gpu.md"
    result = run_gpu("--device", "cuda", "--out", str(out), timeout=60)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "cuda" in message.lower() and len(message.splitlines()) == 1, message
    assert not out.exists()
