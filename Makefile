# The two commands of the README:  make book  ·  make test
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Empty = the chapters' own default (POSEBOOK_PROFILE, else gpu with CUDA, else cpu).
PROFILE ?=

.PHONY: book test test-quick install install-test chromium notebooks clean

# torch first, pinned to the build available here, unless some torch is already installed
# (Colab, conda): the package's own range then accepts it and pip downloads nothing more.
install:
	$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PIP) install "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -e ".[book]"

install-test:
	$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PIP) install "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -e ".[test]"
	$(PYTHON) -m ipykernel install --user --name python3 >/dev/null

# Debian's Chromium, for the browser tests (skipped if it cannot be installed outside CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium"; \
	  else echo "chromium missing and not root: browser tests will skip"; fi; }

book: install
	$(PYTHON) -m posebook.book $(if $(PROFILE),--profile $(PROFILE),)

test: install-test chromium
	$(PYTHON) -m pytest

# Every module, no test marked `slow` (chapters, built book, benchmarks, installs, long trainings);
# installs nothing: run `make install-test` (or `make test`) once first.
test-quick:
	$(PYTHON) -m pytest -m "not slow"

# Regenerate every chapters/*.ipynb from its .md source (jupytext, no outputs).
notebooks:
	$(PYTHON) -m posebook.book --sync-notebooks

clean:
	rm -rf _build
