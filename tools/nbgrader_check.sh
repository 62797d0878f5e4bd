#!/usr/bin/env bash
# `make nbgrader-check`: nbgrader 0.9 generates the student assignment from the instructor notebooks and autogrades
# the instructor's own copies (17 points expected). Outside `make test`: it installs nbgrader (~100 packages) into a
# throwaway venv. The kernel is this project's .venv, through a `python3` kernelspec on JUPYTER_PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
NBGRADER="${NBGRADER:-nbgrader==0.9.6}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$NBGRADER"
export PATH="$WORK/venv/bin:$PATH"  # nbgrader runs alembic by name: its venv's bin/ must be on PATH

mkdir -p "$WORK/jupyter/kernels/python3"
printf '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "videomae-minimal", "language": "python"}\n' \
  "$PY" > "$WORK/jupyter/kernels/python3/kernel.json"
export JUPYTER_PATH="$WORK/jupyter" PYTHONPATH="$ROOT"

COURSE="$WORK/course"  # the notebooks read their data through the package (PYTHONPATH above): nothing else to copy
mkdir -p "$COURSE/source/videomae" "$COURSE/submitted/instructor/videomae"
cp "$ROOT"/notebooks/0[1-8]_*.ipynb "$COURSE/source/videomae/"
cp "$ROOT"/notebooks/0[1-8]_*.ipynb "$COURSE/submitted/instructor/videomae/"
cat > "$COURSE/nbgrader_config.py" <<CONFIG
c = get_config()
c.CourseDirectory.root = "$COURSE"
c.CourseDirectory.course_id = "videomae-minimal"
c.ExecutePreprocessor.timeout = 600
CONFIG
cd "$COURSE"
nbgrader db assignment add videomae
nbgrader db student add instructor
nbgrader generate_assignment videomae --force
nbgrader autograde videomae --force
nbgrader export --to grades.csv
python3 - <<'CHECK'
import csv
rows = list(csv.DictReader(open("grades.csv")))
score = sum(float(r["score"]) for r in rows)
maximum = sum(float(r["max_score"]) for r in rows)
print(f"nbgrader: {score:g}/{maximum:g} points for the instructor's notebooks")
raise SystemExit(0 if score == maximum == 17 else f"nbgrader-check: expected 17/17, got {score:g}/{maximum:g}")
CHECK
