"""The shared training runs of tests/conftest.py with their environment set in this process, for the tests that
call prefkit's library (generate, judge, serve) in-process."""

import pytest


def _in_process(run, monkeypatch):
    for key, value in run[2].items():
        monkeypatch.setenv(key, value)
    return run


@pytest.fixture
def trained(trained_dpo, monkeypatch):
    """The shared DPO run: (dataset dir, TrainResult, environment)."""
    return _in_process(trained_dpo, monkeypatch)


@pytest.fixture
def trained_reward(trained_rm, monkeypatch):
    """The shared reward-model run: (dataset dir, TrainResult, environment)."""
    return _in_process(trained_rm, monkeypatch)
