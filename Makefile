# One command per habit. Everything installs into .venv from uv.lock.
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# Installed modules compiled once: a command then starts without compiling thousands of files
# (where the environment forbids writing bytecode, every start would compile them again).
export UV_COMPILE_BYTECODE := 1
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
PACKAGES := core sources schemas warehouse outputs demo flows khcn
# Debian packages the tests drive for real: a browser, an IMAP server, PDF tools, an SFTP server.
SYSTEM_PACKAGES := chromium dovecot-imapd poppler-utils libreoffice-calc-nogui fonts-dejavu-core \
	openssh-server

.PHONY: install system fmt lint type test check demo bench fuzz

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

# Installs what is missing (CI runs as root on a clean machine).
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends -o DPkg::Lock::Timeout=600 $$missing; \
	fi

test: install system
	.venv/bin/pytest

# The inner loop: everything but the tests marked slow (end-to-end, kill, crash, fuzz), on
# two processes.
check: install
	.venv/bin/pytest -q -m "not slow" -n 2

demo: install
	.venv/bin/khcn demo

# `make bench BENCH_N="1000 10000 100000"` for a province year (generating it takes long).
BENCH_N ?= 1000 10000
bench: install
	.venv/bin/python bench/read_bench.py
	.venv/bin/python bench/validate_bench.py
	.venv/bin/python bench/ingest_bench.py --n $(BENCH_N)
	.venv/bin/python bench/province_bench.py

# Mutated submissions through the real ingest flow; prints files, aborts, crashes, hangs, silent
# drops, values read inexactly, peak RSS of the process tree. `make fuzz N=10000`. Batches of
# 250 keep the flow process's share of memory down; the workers' is read_workers × cap.
N ?= 10000
fuzz: install
	nice .venv/bin/python tests/fuzz.py --n $(N) --batch 250
