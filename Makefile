# One entry point. `make test` and `make demo` build .venv on first use; nothing else needs setting up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install test pytest nbval export check-export lab demo bench bench-data execute-notebooks student clean

help:
	@echo "make demo        sample + process the bundled clip, save a picture (the main job)"
	@echo "make test        the whole suite: pytest, nbval on every notebook, exporter drift check"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make export      regenerate videomae_minimal/ from the notebooks"
	@echo "make execute-notebooks  re-run every notebook top to bottom, storing its outputs"
	@echo "make bench       the benchmark suite vs transformers and the HF docs recipe -> benchmarks/RESULTS.md"
	@echo "make bench-data  reading + processing vs the Hugging Face docs recipe"
	@echo "make student     the student version of the course (solutions removed) -> student/"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP) check-export
	$(PY) -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

pytest: $(STAMP)
	$(PY) -m pytest tests

nbval: $(STAMP)
	$(PY) -m pytest notebooks --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

export: $(STAMP)
	$(PY) tools/export.py

check-export: $(STAMP)
	$(PY) tools/export.py --check

execute-notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
		$(PY) -m jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done
	$(PY) tools/export.py

lab: $(STAMP)
	$(PY) -m jupyter lab notebooks

demo: $(STAMP)
	$(PY) -m videomae_minimal demo

bench: $(STAMP)
	$(PY) benchmarks/run.py --out benchmarks/RESULTS.md

bench-data: $(STAMP)
	$(PY) benchmarks/bench_data.py --out benchmarks/data_results.md

student: $(STAMP)  # re-made from the notebooks each time: student/ is generated, never edited
	rm -rf student
	$(PY) -m videomae_minimal student --out student

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
