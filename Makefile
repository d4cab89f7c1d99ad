# Two commands on a fresh machine with only Python and pip:
#   make run    -> creates .venv if missing, installs disa-bench, runs `disa-bench run` on the embedded default
#   make test   -> same install, then the test suite
# On machines without an NVIDIA GPU the install pins the CPU build of torch (constraints/cpu.txt), so no
# multi-GB CUDA torch is pulled. Pass ARGS to `make run`, e.g. make run ARGS="--profile smoke".

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINT := $(shell command -v nvidia-smi >/dev/null 2>&1 || echo "-c constraints/cpu.txt")
STAMP := $(VENV)/.disa-bench-installed

.PHONY: install run test smoke bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(CONSTRAINT) -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/disa-bench run $(ARGS)

smoke: $(STAMP)
	$(BIN)/disa-bench run --profile smoke $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
