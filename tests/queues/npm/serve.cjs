// Starts local-aws-sqs on 127.0.0.1:<port> for the queue tests (tests/sqs_servers.py).
//
//   node tests/queues/npm/serve.cjs 9324
//
// Queues are created by the tests themselves, one fresh pair per test, so the
// emulator's 60-second wait before a deleted queue's name may be reused is
// turned off: it only matters to programs that reuse names.
"use strict";

const { createSqsServer } = require("local-aws-sqs");

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node serve.cjs <port>");
  process.exit(2);
}

createSqsServer({ port, hostname: "127.0.0.1", emulateQueueCreationLifecycle: false }).then(
  () => console.log(`local-aws-sqs listening on http://127.0.0.1:${port}`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
