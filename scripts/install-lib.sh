# Sourced by the installers (clients.sh, refpds.sh, notebooks.sh). Before sourcing, set
# LOG (the install log, truncated here) and INSTALLER (the script's name, for messages).

# One installer per folder at a time: tests start installers concurrently, and a second npm
# install into the folder the first is filling corrupts both. The lock lasts as long as the
# script that sourced this.
exec {install_lock}>"$LOG.lock"
flock "$install_lock"
: >"$LOG"

# quiet CMD...: runs one install step with its output in $LOG, shown only if it fails.
quiet() {
    if ! "$@" >>"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "$INSTALLER: failed: $*" >&2
        exit 1
    fi
}

# venv DIR: a Python virtual environment at DIR, made with virtualenv from PyPI where Debian's
# python3-venv is missing. Leaves an existing one alone.
venv() {
    [ -x "$1/bin/python" ] && return 0
    if ! python3 -m venv "$1" >>"$LOG" 2>&1; then
        rm -rf "$1"
        quiet python3 -m pip install --quiet --target "$(dirname "$1")/virtualenv" virtualenv
        quiet env PYTHONPATH="$(dirname "$1")/virtualenv" python3 -m virtualenv --quiet "$1"
    fi
}

# pip_pinned VENV REQUIREMENT...: installs the pinned requirements into VENV unless exactly
# these are already there (a marker file records what was installed).
pip_pinned() {
    local dir="$1"
    shift
    if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$*" ]; then
        quiet "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
        echo "$*" >"$dir/.installed"
    fi
}
