# One entry point. `make test` and `make demo` build .venv on first use; nothing else needs setting up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install test pytest nbval export check-export lab demo bench bench-data execute-notebooks student clean stats bench-finetune \
	tiny-checkpoint bundled-clips findings nbgrader-check site dist

help:
	@echo "make demo        classify the bundled motion clips, draw a reconstruction -> out/videomae_demo.png (the main job)"
	@echo "make test        the whole suite: pytest, nbval on every notebook, exporter drift check"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make export      regenerate videomae_minimal/ from the notebooks"
	@echo "make execute-notebooks  re-run every notebook top to bottom, storing its outputs (volatile metadata stripped)"
	@echo "make stats       per notebook: exported lines, figures, try-it questions, reading time (and the course's rules)"
	@echo "make bench       the benchmark suite vs transformers and the HF docs recipe -> benchmarks/RESULTS.md"
	@echo "make bench-data  reading + processing vs the Hugging Face docs recipe"
	@echo "make site        the course as a static website -> site/index.html (from the stored outputs; offline)"
	@echo "make dist        the wheel and the sdist -> dist/ (the wheel carries the data and the notebooks)"
	@echo "make bench-finetune  fine-tuning on video files: clips/s at 0, 1, 2 workers, tiny and base"
	@echo "make student     the student version of the course (solutions removed) -> student/"
	@echo "make nbgrader-check  nbgrader 0.9 generates and autogrades the instructor notebooks (throwaway venv; not in make test)"
	@echo "make tiny-checkpoint  retrain data/checkpoints/tiny-{pretrained,finetuned} with the recorded commands"
	@echo "make bundled-clips    rewrite data/videos/synthetic_motion (8 clips, seed 7)"
	@echo "make findings    notebook 10's measured findings, over seeds (about 75 minutes; resumable) -> benchmarks/findings.md, data/findings.json"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,site]"
	touch $(STAMP)

install: $(STAMP)

# Two pytest workers, one file (or notebook: its cells share a kernel) each at a time: most tests wait on a process
# they started (a kernel, a training run, a browser), so two run side by side on two cores in 10 minutes, not 16.
TEST_WORKERS ?= 2
test: $(STAMP) check-export
	$(PY) -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

pytest: $(STAMP)
	$(PY) -m pytest tests

nbval: $(STAMP)
	$(PY) -m pytest notebooks --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

export: $(STAMP)
	$(PY) tools/export.py

check-export: $(STAMP)
	$(PY) tools/export.py --check

# Each notebook is cleaned right after it runs (tools/clean_notebooks.py: execution timestamps, the Python patch
# version), so re-running an unchanged notebook leaves git clean.
execute-notebooks: $(STAMP)
	for nb in notebooks/*.ipynb notebooks/appendix/*.ipynb; do \
		$(PY) -m jupyter nbconvert --to notebook --execute --inplace "$$nb" && $(PY) tools/clean_notebooks.py "$$nb" \
		|| exit 1; done
	$(PY) tools/export.py

stats:
	python3 tools/course_stats.py --check

lab: $(STAMP)
	$(PY) -m jupyter lab notebooks

# The first run (and the first after pyproject.toml or constraints.txt change) installs the package and its pinned
# dependencies into .venv: say so, pip takes about two minutes in silence.
demo:
	@$(MAKE) --no-print-directory -q $(STAMP) || echo "make demo: installing videomae-minimal and its pinned dependencies into $(VENV) (pip, about 2 minutes, first run only)"
	@$(MAKE) --no-print-directory -s $(STAMP)
	$(PY) -m videomae_minimal demo --out out/videomae_demo.png

bench: $(STAMP)
	$(PY) benchmarks/run.py --out benchmarks/RESULTS.md

bench-data: $(STAMP)
	$(PY) benchmarks/bench_data.py --out benchmarks/data_results.md

site: $(STAMP)  # re-made from the committed notebooks each time: nothing re-runs, their stored outputs are shown
	$(PY) tools/build_site.py --out site

dist: $(STAMP)
	$(PY) -m build --no-isolation --outdir dist .
bench-finetune: $(STAMP)  # fine-tuning on video files: clips/s at 0, 1, 2 workers, tiny and base (about 10 minutes)
	$(PY) benchmarks/bench_finetune.py --out benchmarks/finetune_results.md

student: $(STAMP)  # re-made from the notebooks each time: student/ is generated, never edited
	rm -rf student
	$(PY) -m videomae_minimal student --out student

nbgrader-check: $(STAMP)  # installs nbgrader in a throwaway venv (a few minutes): kept out of `make test`
	PY=$(abspath $(PY)) tools/nbgrader_check.sh

# The bundled tiny checkpoints: one thread, so the float arithmetic (and the result) does not depend on the core count.
DATA := data
TINY_RUNS := out/tiny-runs
tiny-checkpoint: $(STAMP)
	rm -rf $(TINY_RUNS)
	$(PY) -m videomae_minimal pretrain --synthetic 8000 --seed 0 --steps 2000 --batch-size 32 --lr 1.5e-3 \
		--warmup-steps 100 --threads 1 --out $(TINY_RUNS)/pretrain
	mkdir -p $(DATA)/checkpoints/tiny-pretrained
	cp $(TINY_RUNS)/pretrain/config.json $(TINY_RUNS)/pretrain/model.safetensors \
		$(TINY_RUNS)/pretrain/preprocessor_config.json $(TINY_RUNS)/pretrain/training.json $(DATA)/checkpoints/tiny-pretrained/
	$(PY) -m videomae_minimal finetune --init $(DATA)/checkpoints/tiny-pretrained --synthetic 8000 --seed 0 --steps 1000 \
		--batch-size 32 --lr 1e-3 --warmup-steps 50 --threads 1 --out $(TINY_RUNS)/finetune
	mkdir -p $(DATA)/checkpoints/tiny-finetuned
	cp $(TINY_RUNS)/finetune/config.json $(TINY_RUNS)/finetune/model.safetensors \
		$(TINY_RUNS)/finetune/preprocessor_config.json $(TINY_RUNS)/finetune/training.json $(DATA)/checkpoints/tiny-finetuned/

bundled-clips: $(STAMP)
	$(PY) -m videomae_minimal make-synthetic $(DATA)/videos/synthetic_motion --num 8 --seed 7 --overwrite

# Notebook 10's findings: 5 pre-trainings and 132 fine-tuning runs in 2 worker processes of one thread each
# (75 minutes measured on 2 cores). Interrupted, it resumes from out/findings-work (finished runs are kept).
# The 90% tube pre-training becomes the bundled miniature.
FINDINGS_WORK := out/findings-work
findings: $(STAMP)
	$(PY) benchmarks/findings.py --out benchmarks/findings --json $(DATA)/findings.json --work $(FINDINGS_WORK)
	mkdir -p $(DATA)/checkpoints/miniature-pretrained
	cp $(FINDINGS_WORK)/pre-tube-0.9-seed0/config.json $(FINDINGS_WORK)/pre-tube-0.9-seed0/model.safetensors \
		$(FINDINGS_WORK)/pre-tube-0.9-seed0/preprocessor_config.json $(FINDINGS_WORK)/pre-tube-0.9-seed0/training.json \
		$(DATA)/checkpoints/miniature-pretrained/

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache
