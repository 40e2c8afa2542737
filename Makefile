# make setup      - create .venv (prefkit + every extra + LLaMA-Factory 0.9.5 on CPU torch), .venv-lf093
#                   (LLaMA-Factory 0.9.3), .venv-trl (TRL 1.x) and .venv-argilla (the Argilla server), and
#                   install Redis and Chromium (for the browser tests)
# make demo       - set up, then convert, register, validate, train, serve and ask (examples/demo.sh);
#                   it writes into a scratch copy of data/, never into tracked files
# make test       - set up, then run the whole test suite (what CI runs)
# make test-fast  - the tests that need neither LLaMA-Factory, Argilla, Ray, a model nor a browser, and are not
#                   marked slow (about 1.5 minutes)
# make lint       - ruff over prefkit/, tests/ and bench/
# make bench      - the convert benchmark
.PHONY: setup demo test test-fast lint bench clean

FAST := -m "not llamafactory and not argilla and not model and not ray and not browser and not slow"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash examples/demo.sh

test: setup
	@.venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast:
	@PREFKIT_SKIP_LF093=1 PREFKIT_SKIP_TRL=1 PREFKIT_SKIP_ARGILLA=1 PREFKIT_SKIP_BROWSER=1 bash scripts/setup.sh
	@.venv/bin/python -m pytest -q -p no:cacheprovider $(FAST) $(PYTEST_ARGS)

lint:
	@.venv/bin/ruff check prefkit tests bench

bench: setup
	@.venv/bin/python bench/convert.py

clean:
	rm -rf .venv .venv-lf093 .venv-trl .venv-argilla .pytest_cache .cache
