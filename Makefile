# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
# pip's own upgrade check and a newer pip's build-backend banners add noise, not safety.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo demo-langchain demo-langgraph demo-llama-index test lint format bench bench-million clean

ADAPTERS := adapters/langchain adapters/langgraph adapters/llama_index

# Everything: the core with its extras and dev tools, both adapters with their test extras.
$(STAMP): pyproject.toml $(ADAPTERS:%=%/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[dev]" $(ADAPTERS:%=-e %[test])
	touch $(STAMP)

# The demo needs only the core: the embedded default has no optional dependency.
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)  ## run the quickstart on the embedded defaults (no server); leaves ./.omega-memory
	$(PY) examples/quickstart.py

demo-langchain: $(STAMP)  ## a LangChain chat that remembers and recalls, offline
	$(PY) examples/langchain_agent.py

demo-langgraph: $(STAMP)  ## a LangGraph agent: thread state in the saver, user facts in the store, a rebuild, offline
	$(PY) examples/langgraph_agent.py

demo-llama-index: $(STAMP)  ## a LlamaIndex ingestion pipeline, retrieval, and a rebuild by replay, offline
	$(PY) examples/llama_index_pipeline.py

test: lint  ## lint, type-check, then run the whole test suite (starts the servers it needs)
	$(PY) -m pytest -q

lint: $(STAMP)  ## ruff (lint and format check) and mypy --strict on the core, both adapters and the examples
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP)  ## run the benchmarks (minutes); results go in benchmarks/README.md
	$(PY) benchmarks/search.py
	$(PY) benchmarks/hybrid.py
	$(PY) benchmarks/reembed.py
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/mongo.py
	$(PY) benchmarks/mongo_topology.py
	$(PY) benchmarks/shared_index.py
	$(PY) benchmarks/langchain.py
	$(PY) benchmarks/llama_index_bench.py
	$(PY) benchmarks/langgraph_bench.py
	$(PY) benchmarks/integrity.py
	$(PY) benchmarks/lifecycle.py
	$(PY) benchmarks/rebuild_process.py
	$(PY) benchmarks/optimize.py
	$(PY) benchmarks/payload_index.py
	$(PY) benchmarks/vector_memory.py
	$(PY) benchmarks/search_overhead.py

bench-million: $(STAMP)  ## 1,000,000 memories: ingest, optimize, search, reopen (about 15 minutes, 8 GB of disk)
	$(PY) benchmarks/million.py

clean:
	rm -rf $(VENV) .omega-memory .pytest_cache
