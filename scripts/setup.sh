#!/usr/bin/env bash
# Creates (or updates) the project environments. Idempotent and incremental: each step is skipped
# when the requirement files it was made from have not changed.
#   .venv          prefkit (editable) with every extra, and LLaMA-Factory 0.9.5 (CPU torch)
#   .venv-lf093    LLaMA-Factory 0.9.3 with prefkit, used by parity tests through a subprocess
#   .venv-trl      TRL 1.x alone, for the TRL parity oracle (tests/tools/trl_oracle.py)
#   .cache/wheels  the axolotl 0.19.0 and OpenRLHF 0.11.2 wheels (source for their parity oracles, not installed)
#   .venv-argilla  the Argilla server (label tests start it with Redis; see tests/argilla_server/)
#   .venv-label-studio  Label Studio 1.23.2 (prefkit label serve; the Label Studio label tests)
#   and, as root on Debian, the packages redis-server, chromium and chromium-driver (browser tests)
#   .cache/tiny-llava  a tiny random vision-language model (tests/tools/build_tiny_vlm.py) for the image tests
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
C=requirements/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONSTRAINT="$PWD/$C"

pip_install() {  # $1 = venv, rest = pip arguments; hides pip's notes about absent local indexes
  "$1/bin/pip" install -q -c "$C" "${@:2}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

stamp() { cat "$@" | sha256sum | cut -c1-16; }

ensure_venv() {  # $1 = dir
  [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
}

# 0. `setup.sh --dev` (make test-fast): prefkit with its dev extra only, no torch or LLaMA-Factory --------------
ensure_venv .venv
if [ "${1:-}" = --dev ]; then
  s=$(stamp pyproject.toml $C)
  if [ "$(cat .venv/.dev-stamp 2>/dev/null)" != "$s" ]; then
    echo "[setup] .venv: installing prefkit with its dev extra..." >&2
    pip_install .venv -e ".[dev]"
    echo "$s" > .venv/.dev-stamp
  fi
  exit 0
fi

# 1. main environment -------------------------------------------------------------------------
s=$(stamp pyproject.toml requirements/llamafactory-0.9.5.txt $C)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$s" ]; then
  echo "[setup] .venv: installing prefkit and LLaMA-Factory 0.9.5 (CPU)..." >&2
  pip_install .venv -r requirements/llamafactory-0.9.5.txt
  pip_install .venv --no-deps "llamafactory==0.9.5"
  # 0.9.5 imports torchaudio unconditionally; the registry build is CUDA-only, so take the
  # pure-Python fallback by dropping its compiled libraries.
  pip_install .venv --no-deps "torchaudio==2.11.0"
  rm -f .venv/lib/python3*/site-packages/torchaudio/lib/*.so
  pip_install .venv -e ".[dev,scale,docs]"
  echo "$s" > .venv/.setup-stamp
fi

# 2. LLaMA-Factory 0.9.3 for parity tests (skip with PREFKIT_SKIP_LF093=1) ------------------------
if [ "${PREFKIT_SKIP_LF093:-0}" != 1 ]; then
  ensure_venv .venv-lf093
  s=$(stamp pyproject.toml requirements/llamafactory-0.9.3.txt $C)
  if [ "$(cat .venv-lf093/.setup-stamp 2>/dev/null)" != "$s" ]; then
    echo "[setup] .venv-lf093: installing LLaMA-Factory 0.9.3 (CPU)..." >&2
    pip_install .venv-lf093 -r requirements/llamafactory-0.9.3.txt
    pip_install .venv-lf093 -e .  # prefkit beside 0.9.3, for the token-length parity tests
    echo "$s" > .venv-lf093/.setup-stamp
  fi
fi
# 2b. TRL 1.x for the TRL parity oracle, tests/tools/trl_oracle.py (skip with PREFKIT_SKIP_TRL=1) ------
if [ "${PREFKIT_SKIP_TRL:-0}" != 1 ]; then
  ensure_venv .venv-trl
  s=$(stamp requirements/trl-1.txt $C)
  if [ "$(cat .venv-trl/.setup-stamp 2>/dev/null)" != "$s" ]; then
    echo "[setup] .venv-trl: installing TRL 1.x (CPU)..." >&2
    pip_install .venv-trl -r requirements/trl-1.txt
    echo "$s" > .venv-trl/.setup-stamp
  fi
fi
# 2c. axolotl's and OpenRLHF's released wheels, whose source the parity oracles load (tests/tools/axolotl_oracle.py,
#     openrlhf_oracle.py); never installed: a full install pulls CUDA stacks (skip with PREFKIT_SKIP_WHEELS=1) ------
if [ "${PREFKIT_SKIP_WHEELS:-0}" != 1 ]; then
  WHEELS="axolotl==0.19.0 openrlhf==0.11.2"
  if [ "$(cat .cache/wheels/.stamp 2>/dev/null)" != "$WHEELS" ]; then
    echo "[setup] .cache/wheels: downloading the axolotl and OpenRLHF wheels (source for the parity oracles)..." >&2
    mkdir -p .cache/wheels
    .venv/bin/pip download -q --no-deps -d .cache/wheels $WHEELS \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) && echo "$WHEELS" > .cache/wheels/.stamp
  fi
fi
# 3. Argilla server and Redis for the label tests (skip with PREFKIT_SKIP_ARGILLA=1) -------------
if [ "${PREFKIT_SKIP_ARGILLA:-0}" != 1 ]; then
  ensure_venv .venv-argilla
  s=$(stamp requirements/argilla-server.txt)
  if [ "$(cat .venv-argilla/.setup-stamp 2>/dev/null)" != "$s" ]; then
    echo "[setup] .venv-argilla: installing argilla-server..." >&2
    pip_install .venv-argilla -r requirements/argilla-server.txt
    echo "$s" > .venv-argilla/.setup-stamp
  fi
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "[setup] installing redis-server (Debian package)..." >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
      # The package starts a system-wide service; the tests start their own on a free port.
      (service redis-server stop || true) >/dev/null 2>&1
    else
      echo "[setup] redis-server is missing: install it (Debian: apt-get install redis-server) for the label tests" >&2
    fi
  fi
fi
# 3b. Label Studio for `prefkit label serve` and the Label Studio label tests (skip with PREFKIT_SKIP_LABEL_STUDIO=1) --
#     its own venv: label-studio pins pyarrow < 25 (about 1 GB, ~30 s from a warm pip cache)
if [ "${PREFKIT_SKIP_LABEL_STUDIO:-0}" != 1 ]; then
  ensure_venv .venv-label-studio
  s=$(stamp requirements/label-studio.txt)
  if [ "$(cat .venv-label-studio/.setup-stamp 2>/dev/null)" != "$s" ]; then
    echo "[setup] .venv-label-studio: installing label-studio..." >&2
    PIP_CONSTRAINT= pip_install .venv-label-studio -r requirements/label-studio.txt
    echo "$s" > .venv-label-studio/.setup-stamp
  fi
fi

# 4. Chromium for the browser tests (tests/browser/; skip with PREFKIT_SKIP_BROWSER=1) -------------------
if [ "${PREFKIT_SKIP_BROWSER:-0}" != 1 ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing chromium and chromium-driver (Debian packages)..." >&2
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
        >/dev/null; } || echo "[setup] could not install chromium: the browser tests will be skipped" >&2
  else
    echo "[setup] chromium is missing: install it (Debian: apt-get install chromium chromium-driver) for the browser tests" >&2
  fi
fi
# 5. The tiny vision-language model of the image training tests (offline, about 21 MB; skip with PREFKIT_SKIP_VLM=1) --
if [ "${PREFKIT_SKIP_VLM:-0}" != 1 ] && [ ! -f .cache/tiny-llava/model.safetensors ]; then
  echo "[setup] building the tiny vision-language model (.cache/tiny-llava)..." >&2
  .venv/bin/python tests/tools/build_tiny_vlm.py --if-missing .cache/qwen2.5-tokenizer .cache/tiny-llava >/dev/null
fi
echo "[setup] ready: .venv/bin/prefkit" >&2
