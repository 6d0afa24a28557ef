#!/usr/bin/env bash
# Install tests/queues/npm/node_modules: local-aws-sqs, the SQS emulator the
# queue contract suite (tests/queues) runs against beside moto's server.
#
# It is an npm package of its own, pinned by that folder's package-lock.json,
# and never part of the project's Python dependencies. It runs on Node 20 or
# later. `npm ci` runs only when the lock file changed since the last install,
# so running this again is cheap.
#
#   scripts/interop/sqs-servers.sh
set -euo pipefail

cd "$(dirname "$0")/../../tests/queues/npm"
STAMP=node_modules/.installed-lock

wanted="$(sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    exit 0
fi

echo "Installing local-aws-sqs into tests/queues/npm/node_modules"
# npm ci starts from an empty node_modules, so a failed install leaves no stamp behind.
npm ci --no-audit --no-fund --loglevel=error
echo "$wanted" >"$STAMP"
