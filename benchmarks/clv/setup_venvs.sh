#!/usr/bin/env bash
# Creates the two comparison environments under benchmarks/.venv-bench/ (git-ignored), apart
# from Patron's own locked environment: lifetimes 0.11.3 needs the older numpy/pandas it was
# written for, pymc-marketing needs current ones (the newest release for this Python). psutil measures peak memory in both.
set -euo pipefail
cd "$(dirname "$0")/../.."
UV=.uv/bin/uv
export UV_PYTHON_DOWNLOADS=never
PY=${PYTHON:-python3}
ROOT=benchmarks/.venv-bench

if [ ! -x "$ROOT/lifetimes/bin/python" ]; then
    "$UV" venv --quiet --python "$PY" "$ROOT/lifetimes"
    "$UV" pip install --quiet --python "$ROOT/lifetimes/bin/python" \
        "lifetimes==0.11.3" "numpy==1.26.4" "pandas==1.5.3" "scipy==1.11.4" "psutil"
fi
if [ ! -x "$ROOT/pymc/bin/python" ]; then
    "$UV" venv --quiet --python "$PY" "$ROOT/pymc"
    "$UV" pip install --quiet --python "$ROOT/pymc/bin/python" "pymc-marketing" "psutil"
fi
"$ROOT/lifetimes/bin/python" -c "import lifetimes, pandas; print('lifetimes', lifetimes.__version__, 'pandas', pandas.__version__)"
"$ROOT/pymc/bin/python" -c "import pymc_marketing, pymc; print('pymc-marketing', pymc_marketing.__version__, 'pymc', pymc.__version__)"
