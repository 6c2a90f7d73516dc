#!/usr/bin/env bash
# Makes TA-Lib importable in the given Python (default: .venv/bin/python).
# The PyPI wheel of `ta-lib` bundles the C library on common platforms, so this
# only checks; where no wheel fits, it builds the C library from the official
# source release and then installs the Python wrapper against it.
set -euo pipefail
PY="${1:-.venv/bin/python}"
TALIB_C_VERSION="${TALIB_C_VERSION:-0.6.4}"

if "$PY" -c "import talib; talib.SMA" 2>/dev/null; then
    "$PY" -c "import talib; print(f'TA-Lib ready: python wrapper {talib.__version__}, C library {talib.__ta_version__}')"
    exit 0
fi

echo "TA-Lib is not importable: trying the PyPI wheel"
if "$PY" -m pip install --disable-pip-version-check -q --only-binary=:all: "ta-lib>=0.6" 2>/dev/null \
    && "$PY" -c "import talib" 2>/dev/null; then
    echo "TA-Lib installed from the wheel"; exit 0
fi

echo "No wheel fits this platform: building the TA-Lib C library ${TALIB_C_VERSION} from source"
prefix="${TALIB_PREFIX:-$HOME/.local/ta-lib}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
url="https://github.com/ta-lib/ta-lib/releases/download/v${TALIB_C_VERSION}/ta-lib-${TALIB_C_VERSION}-src.tar.gz"
curl -fsSL "$url" -o "$work/ta-lib.tar.gz" || {
    echo "error: could not download $url; install the TA-Lib C library by hand and set TA_LIBRARY_PATH / TA_INCLUDE_PATH" >&2
    exit 1
}
tar -xzf "$work/ta-lib.tar.gz" -C "$work"
(cd "$work"/ta-lib-* && ./configure --prefix="$prefix" >/dev/null && make -j2 >/dev/null && make install >/dev/null)
TA_LIBRARY_PATH="$prefix/lib" TA_INCLUDE_PATH="$prefix/include" \
    "$PY" -m pip install --disable-pip-version-check -q --no-binary=ta-lib "ta-lib>=0.6"
"$PY" -c "import talib; print('TA-Lib built from source:', talib.__ta_version__)"
