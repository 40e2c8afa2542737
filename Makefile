# make setup  - create .venv (prefkit + every extra + LLaMA-Factory 0.9.5 on CPU torch) and .venv-lf093
# make demo   - set up, then convert the example raw logs, validate their schema and register them in data/
# make test   - set up, then run the whole test suite
.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash examples/demo.sh

test: setup
	@.venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	@.venv/bin/python bench/convert.py

clean:
	rm -rf .venv .venv-lf093 .pytest_cache
