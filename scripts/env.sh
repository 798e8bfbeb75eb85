# Sourced by scripts/run and scripts/test: prepares a Debian machine that has only the Rust
# toolchain. Idempotent and quiet when everything is already present.

# The repository root (this file lives in scripts/).
SONDE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# rustup puts cargo in ~/.cargo/bin, which non-login shells may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "sonde: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi

# The lint gate's tools (in rustup's default profile, but not in its minimal one).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        echo "sonde: adding the rustfmt and clippy components with rustup" >&2
        rustup component add rustfmt clippy >&2
    else
        echo "sonde: cargo fmt and cargo clippy are missing and rustup is not here to add them" >&2
        exit 1
    fi
fi

# System packages: clang and libclang-dev (bindgen, for the RocksDB build), a C++ compiler
# (RocksDB itself), make (node-gyp builds the reference PDS's SQLite binding with it), zstd, and
# the DejaVu font the experiments' figures are drawn with.
sonde_have_libclang() {
    ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 \
        || dpkg -s libclang-dev >/dev/null 2>&1
}
if ! command -v clang >/dev/null 2>&1 || ! sonde_have_libclang || ! command -v c++ >/dev/null 2>&1 \
    || ! command -v zstd >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            echo "sonde: need clang, libclang-dev, g++, make, zstd and fonts-dejavu-core but am not root and sudo is missing; install them and retry" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "sonde: need clang, libclang-dev, g++, make, zstd and fonts-dejavu-core, and apt-get is missing; install them and retry" >&2
        exit 1
    fi
    echo "sonde: installing clang, libclang-dev, g++, make, zstd, fonts-dejavu-core with apt-get" >&2
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-dev g++ make zstd fonts-dejavu-core >/dev/null
fi

# One build directory per machine, reused between runs (a clean one works too).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sonde-target}"

cd "$SONDE_ROOT"
