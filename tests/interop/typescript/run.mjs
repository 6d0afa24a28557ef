#!/usr/bin/env node
// Drives an MCP server with the TypeScript SDK's client, one named scenario a run.
//
//   node run.mjs <scenario> '<target as JSON>'
//
// The target is {"url": "http://127.0.0.1:PORT/mcp"} for streamable HTTP, or
// {"command": "...", "args": [...], "env": {...}, "cwd": "..."} for a stdio
// server the client starts itself. What the scenario saw is printed as one
// JSON object on stdout; the Python tests make the assertions. A scenario that
// throws prints {"failure": ...} and exits 1, so a broken run never looks like
// an observation.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { SCENARIOS } from './scenarios.mjs';

// A scenario that hangs must still end with an answer, well inside the
// Python side's own timeout, with what it had seen so far.
const WATCHDOG_MS = 150_000;

function transportFor(target) {
    if (target.url) {
        // target.headers: e.g. an Authorization bearer token for a server with authentication.
        const options = target.headers ? { requestInit: { headers: target.headers } } : undefined;
        return new StreamableHTTPClientTransport(new URL(target.url), options);
    }
    return new StdioClientTransport({
        command: target.command,
        args: target.args ?? [],
        env: target.env,
        cwd: target.cwd,
        stderr: 'inherit'
    });
}

async function connect(target, scenario, observed) {
    const client = new Client(
        { name: 'mcp-tasks-server-interop', version: '1.0.0' },
        { capabilities: scenario.capabilities ?? {} }
    );
    scenario.prepare?.(client, observed);
    const transport = transportFor(target);
    await client.connect(transport);
    return { client, transport };
}

async function disconnect({ client, transport }) {
    // Ending an HTTP session tells the server at once, instead of leaving it to time out.
    if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) {
        await transport.terminateSession().catch(() => {});
    }
    await client.close();
}

function describe(error) {
    return { name: error?.name, code: error?.code, message: String(error?.message ?? error) };
}

async function main() {
    const [name, targetJson] = process.argv.slice(2);
    const scenario = SCENARIOS[name];
    if (!scenario || !targetJson) {
        throw new Error(`usage: run.mjs <${Object.keys(SCENARIOS).join('|')}> '<target JSON>'`);
    }
    const target = JSON.parse(targetJson);
    const observed = {};
    const watchdog = setTimeout(() => {
        const failure = { message: `scenario ${name} timed out`, observed };
        process.stdout.write(`${JSON.stringify({ failure })}\n`);
        process.exit(2);
    }, WATCHDOG_MS);
    const connection = await connect(target, scenario, observed);
    try {
        await scenario.run(connection.client, observed);
        observed.serverVersion = connection.client.getServerVersion();
        observed.serverCapabilities = connection.client.getServerCapabilities();
        process.stdout.write(`${JSON.stringify(observed)}\n`);
    } finally {
        await disconnect(connection);
        clearTimeout(watchdog);
    }
}

main().catch(error => {
    process.stdout.write(`${JSON.stringify({ failure: { ...describe(error), stack: error?.stack } })}\n`);
    process.exit(1);
});
