#!/usr/bin/env bash
# The FastAPI + Pydantic v2 reference app of the parity test (issue #12): a Python virtualenv in
# .jarvis/pyref (JARVIS_PYREF overrides) with test/reference/requirements.txt installed from the
# package index pip is configured with on this machine (`pip config list`).
# Idempotent: when the venv already holds exactly those requirements (a stamp with their hash)
# it returns after one check. Prints the venv's python path on stdout when done.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=${JARVIS_LOG_PREFIX:-jarvis-pyref}

PYREF=${JARVIS_PYREF:-$JARVIS_STATE_DIR/pyref}
REQS="$JARVIS_ROOT/test/reference/requirements.txt"
STAMP="$PYREF/.jarvis-requirements.sha256"

find_python() {
  PYTHON=${JARVIS_PYTHON:-python3}
  command -v "$PYTHON" >/dev/null 2>&1 \
    || jarvis_die "$PYTHON not found; the reference app needs Python 3.9 or newer (apt-get install python3 python3-venv)"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
    || jarvis_die "$("$PYTHON" --version 2>&1) is too old; the reference app needs Python 3.9 or newer"
  # Debian ships the venv module without ensurepip unless python3-venv is installed.
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || jarvis_die "$PYTHON cannot create virtualenvs (no ensurepip); on Debian: apt-get install python3-venv"
}

want_hash() { sha256sum "$REQS" | cut -d' ' -f1; }

is_current() {
  # Cheap on purpose (npm test runs this every time): the test itself says so if the app fails
  # to import.
  [ -x "$PYREF/bin/python" ] && [ -x "$PYREF/bin/uvicorn" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_hash)" ]
}

make_venv() {
  if [ ! -x "$PYREF/bin/python" ] || ! "$PYREF/bin/python" -m pip --version >/dev/null 2>&1; then
    jarvis_log "creating the virtualenv $PYREF…"
    rm -rf "$PYREF"
    "$PYTHON" -m venv "$PYREF" || jarvis_die "python3 -m venv $PYREF failed"
  fi
}

install_requirements() {
  local log rc=0
  log="$(jarvis_log_dir)/pyref-pip.log"
  jarvis_log "installing $(grep -v '^#' "$REQS" | tr '\n' ' ')(pip, log $log; about 30 s the first time)…"
  # --retries 0: an index that does not answer (no internet here) fails at once instead of five
  # times; pip then takes the packages from the other configured indexes.
  "$PYREF/bin/python" -m pip install --disable-pip-version-check --retries 0 --timeout 15 -r "$REQS" \
    >>"$log" 2>&1 || rc=$?
  ((rc == 0)) || jarvis_die "pip install of the reference app's requirements failed (exit $rc)$(jarvis_log_tail "$log" 15)
Check the configured package index (pip config list) offers: $(grep -v '^#' "$REQS" | tr '\n' ' ')"
  "$PYREF/bin/python" -c 'import fastapi, pydantic, uvicorn' \
    || jarvis_die "the packages installed but do not import; remove $PYREF and run this again"
  want_hash >"$STAMP"
}

if ! is_current; then
  jarvis_step "python for the reference app" find_python
  jarvis_step "virtualenv" make_venv
  jarvis_step "reference app packages" install_requirements
  jarvis_log "reference app ready ($("$PYREF/bin/python" -c 'import fastapi, pydantic; print("fastapi", fastapi.__version__, "pydantic", pydantic.VERSION)'))"
fi
printf '%s\n' "$PYREF/bin/python"
