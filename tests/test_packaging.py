"""The package as users install it: the wheel carries the schemas, and the code is lint-clean."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


def test_wheel_ships_the_schemas_and_finds_them(tmp_path):
    pytest.importorskip("hatchling")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("prefkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("sharegpt_ranking", "alpaca_ranking", "kto", "openai_ranking", "dataset_info"):
        assert f"prefkit/schemas/{schema}.schema.json" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = ("from prefkit.checks.schema_files import schema_dir, validator; "
             "print(schema_dir()); validator('kto')")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(unpacked / "prefkit" / "schemas")


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not os.path.exists(ruff):
        pytest.skip("ruff not installed (make setup installs it)")
    run = subprocess.run([ruff, "check", "prefkit", "tests", "examples", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
