# make setup      - create .venv (prefkit + every extra + LLaMA-Factory 0.9.5 on CPU torch), .venv-lf093
#                   (LLaMA-Factory 0.9.3), .venv-trl (TRL 1.x) and .venv-argilla (the Argilla server), and
#                   install Redis and Chromium (for the browser tests)
# make demo       - set up, then convert, register, validate, train, serve and ask (examples/demo.sh);
#                   it writes into a scratch copy of data/, never into tracked files
# make test       - set up, then run the whole test suite (what CI runs)
# make test-fast  - the tests that need neither LLaMA-Factory, Argilla, Ray, a model nor a browser, and are not
#                   marked slow (under a minute); it installs prefkit's dev extra only (no torch)
# make docs       - the documentation site in site/ (mkdocs --strict), its CLI reference written from the app
# make lint       - ruff over prefkit/, tests/ and bench/
# make bench      - the convert benchmark
.PHONY: setup demo test test-fast docs lint bench clean

FAST := -m "not llamafactory and not argilla and not label_studio and not model and not ray and not browser and not slow"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash examples/demo.sh

# Two workers: one file, or one shared resource (Ray, Argilla, the training runs), per worker (tests/conftest.py).
PARALLEL := -n 2 --dist loadgroup

test: setup
	@.venv/bin/python -m pytest -q -p no:cacheprovider $(PARALLEL) $(PYTEST_ARGS)

test-fast:
	@bash scripts/setup.sh --dev
	@.venv/bin/python -m pytest -q -p no:cacheprovider $(PARALLEL) $(FAST) $(PYTEST_ARGS)

docs: setup
	@.venv/bin/python -m prefkit.cli.reference docs/reference/cli.md
	@NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet

lint:
	@.venv/bin/ruff check prefkit tests bench

bench: setup
	@.venv/bin/python bench/convert.py

clean:
	rm -rf .venv .venv-lf093 .venv-trl .venv-argilla .venv-label-studio .pytest_cache .cache site
