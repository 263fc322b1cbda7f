# archdsl: `make demo` and `make test` set everything up on a fresh machine, then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# every .arch file of the repository must be in canonical form (`archdsl fmt`), but tests/diagnostics:
# its inputs are written as the errors they test (some do not parse) and their .err files quote them
ARCH_FMT := . --exclude tests/diagnostics --exclude fuzz/findings

.PHONY: setup editors demo test lint lint-arch bench bench-quick docs gallery clean

$(STAMP): pyproject.toml
	@command -v dot >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) || echo "warning: could not install graphviz"; \
		else echo "note: graphviz 'dot' missing; install it with: sudo apt-get install graphviz"; fi; }
	@# headless Chromium for the browser test of `archdsl serve` (tests/test_serve.py); never fails the setup
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium (the browser test of archdsl serve will be skipped)"; \
		else echo "note: chromium missing (the browser test of archdsl serve is skipped); install it with: sudo apt-get install chromium"; fi; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/archdsl check specs/
	$(BIN)/archdsl summary specs/resnet.arch --network resnet50 --depth 1
	rm -rf runs/demo
	$(BIN)/archdsl train specs/lenet.arch --network lenet5 --out runs/demo
	$(BIN)/archdsl render specs/googlenet.arch --network googlenet -o runs/demo/googlenet.svg

# the npm packages the TextMate grammar's test runs under node (vscode-textmate, vscode-oniguruma), into
# editors/vscode/node_modules (git-ignored): installed once, from the lock file; without node or npm the
# grammar's tests skip, and this does not fail
editors:
	@if [ -f editors/vscode/node_modules/vscode-textmate/package.json ] && [ -f editors/vscode/node_modules/vscode-oniguruma/package.json ]; then :; \
	elif command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		(cd editors/vscode && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) \
		|| echo "warning: npm ci failed in editors/vscode; the TextMate grammar tests will be skipped"; \
	else echo "note: node/npm missing; the TextMate grammar tests will be skipped"; fi

test: $(STAMP) editors
	$(BIN)/python -m pytest

# a few seconds: ruff's linter and formatter over the Python files, `archdsl fmt` over the .arch files
lint: lint-arch $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-arch: $(STAMP)
	$(BIN)/archdsl fmt --check $(ARCH_FMT)

# every benchmark; figures in benchmarks/results/<name>.json (docs/performance.md quotes them)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

docs: $(STAMP)
	$(BIN)/python scripts/gen_architectures.py

# docs/gallery/ (every spec's diagram, both styles for the main ones) and docs/rendering.md's pictures; needs dot
gallery: $(STAMP)
	$(BIN)/python scripts/gen_gallery.py --all
	$(BIN)/python scripts/gen_rendering_images.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
