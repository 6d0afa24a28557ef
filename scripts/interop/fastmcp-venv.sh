#!/usr/bin/env bash
# Make tests/interop/.fastmcp-venv: the pinned fastmcp client (with fastmcp-tasks)
# that tests/interop/test_fastmcp_client.py drives our server with.
#
# It is a virtualenv of its own because fastmcp-tasks patches the mcp SDK
# process-wide on import; the project's environment never sees it. The venv is
# rebuilt only when the lock file (or the Python that builds it) changes, so
# running this again is cheap.
#
#   scripts/interop/fastmcp-venv.sh          # PYTHON=python3.12 to pick another Python
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
VENV=tests/interop/.fastmcp-venv
LOCK=tests/interop/fastmcp/requirements.txt
STAMP="$VENV/.requirements-stamp"

wanted="$(sha256sum "$LOCK" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    exit 0
fi

echo "Installing the fastmcp interop client into $VENV"
rm -f "$STAMP"  # a half-built venv must not pass for a ready one
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK"
# The lock pins every package; this fails if a pin no longer satisfies the others.
"$VENV/bin/python" -m pip check >/dev/null
echo "$wanted" >"$STAMP"
