#!/usr/bin/env bash
# Install tests/interop/typescript/node_modules: the pinned TypeScript MCP SDK
# client that tests/interop/test_typescript_client.py drives our server with.
#
# The clients are npm packages of their own, pinned by that folder's
# package-lock.json, and never part of the project's Python dependencies.
# `npm ci` runs only when the lock file changed since the last install, so
# running this again is cheap.
#
#   scripts/interop/node-clients.sh
set -euo pipefail

cd "$(dirname "$0")/../../tests/interop/typescript"
STAMP=node_modules/.installed-lock

wanted="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    exit 0
fi

echo "Installing the TypeScript interop client into tests/interop/typescript/node_modules"
# npm ci starts from an empty node_modules, so a failed install leaves no stamp behind.
npm ci --no-audit --no-fund --loglevel=error
echo "$wanted" >"$STAMP"
