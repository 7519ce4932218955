# One command per habit. Everything installs into .venv from uv.lock.
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
PACKAGES := khcn flows schemas sources warehouse

.PHONY: install fmt lint type test demo bench

$(UV):
	python3 -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet "uv>=0.5"

install: $(UV)
	$(UV) sync --frozen

fmt: install
	.venv/bin/ruff format $(PACKAGES) tests bench
	.venv/bin/ruff check --fix $(PACKAGES) tests bench

lint: install
	.venv/bin/ruff format --check $(PACKAGES) tests bench
	.venv/bin/ruff check $(PACKAGES) tests bench

type: install
	.venv/bin/mypy $(PACKAGES)

test: install
	.venv/bin/pytest

demo: install
	.venv/bin/khcn demo

bench: install
	.venv/bin/python bench/read_bench.py
	.venv/bin/python bench/validate_bench.py
	.venv/bin/python bench/ingest_bench.py
