// The scenarios run.mjs runs: each uses the TypeScript SDK's 2025-11-25 task API
// (client.experimental.tasks) the way an application would, and returns what it
// saw as plain JSON. They assert nothing themselves: the Python tests do.
//
// They need the tools of tests/interop/ts_tools.py: `gated` (works until a
// `release` call names its gate), `ask` (one elicitation) and `broken` (a tool
// error).
import { randomUUID } from 'node:crypto';

import { CallToolResultSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const RELATED_TASK = 'io.modelcontextprotocol/related-task';

// getTaskResult's schema is optional in the SDK's types, but 1.32.2 throws
// ("reading '_zod'") without one, so every call below passes it.

function describeError(error) {
    return { code: error?.code, message: String(error?.message ?? error) };
}

// A stream message as plain JSON (its error, if any, is an McpError instance).
function describeMessage(message) {
    switch (message.type) {
        case 'taskCreated':
        case 'taskStatus':
            return { type: message.type, taskId: message.task.taskId, status: message.task.status, task: message.task };
        case 'result':
            return { type: 'result', result: message.result };
        case 'error':
            return { type: 'error', error: describeError(message.error) };
        default:
            return { type: message.type };
    }
}

// Calls `fn` and returns {value} or {error}, for calls whose refusal is the point.
async function attempt(fn) {
    try {
        return { value: await fn() };
    } catch (error) {
        return { error: describeError(error) };
    }
}

function release(client, gate) {
    return client.callTool({ name: 'release', arguments: { name: gate } });
}

// Starts a task and stops following it: the stream's first message is the
// created task, and returning the generator ends its polling.
async function startTask(client, name, args) {
    const stream = client.experimental.tasks.callToolStream({ name, arguments: args });
    const first = await stream.next();
    await stream.return(undefined);
    if (first.value?.type !== 'taskCreated') {
        throw new Error(`expected taskCreated, got ${JSON.stringify(first.value)}`);
    }
    return first.value.task;
}

async function listAllTasks(client) {
    const tasks = [];
    let cursor;
    let pages = 0;
    do {
        const page = await client.experimental.tasks.listTasks(cursor);
        tasks.push(...page.tasks);
        cursor = page.nextCursor;
        pages += 1;
    } while (cursor);
    return { tasks, pages };
}

// callToolStream from taskCreated to result. The tool waits on a gate that is
// released only once the stream has shown it working, so the working phase is
// seen on every run, however fast or slow the machine.
async function stream(client) {
    const tools = await client.listTools();
    const gate = randomUUID();
    const messages = [];
    let released = false;
    for await (const message of client.experimental.tasks.callToolStream({ name: 'gated', arguments: { name: gate } })) {
        messages.push(describeMessage(message));
        if (message.type === 'taskStatus' && message.task.status === 'working' && !released) {
            released = true;
            await release(client, gate);
        }
    }
    return {
        gate,
        taskSupport: Object.fromEntries(tools.tools.map(tool => [tool.name, tool.execution?.taskSupport ?? null])),
        messages
    };
}

// getTask, getTaskResult, listTasks and cancelTask on two tasks: one that
// finishes, one that is cancelled while it works.
async function lifecycle(client) {
    await client.listTools();
    const tasks = client.experimental.tasks;
    const finishing = randomUUID();
    const cancelled = randomUUID();
    const first = await startTask(client, 'gated', { name: finishing });
    const second = await startTask(client, 'gated', { name: cancelled });
    const observed = { created: [first, second] };
    observed.whileWorking = await tasks.getTask(first.taskId);
    // Refused (-32601) where tasks have no owner: stateless HTTP without authentication.
    observed.listed = await attempt(() => listAllTasks(client));
    await release(client, finishing);
    // tasks/result blocks until the task is finished, then answers with the tool's result.
    observed.result = await tasks.getTaskResult(first.taskId, CallToolResultSchema);
    observed.afterResult = await tasks.getTask(first.taskId);
    observed.cancel = await attempt(() => tasks.cancelTask(second.taskId));
    observed.afterCancel = await tasks.getTask(second.taskId);
    observed.resultOfCancelled = await attempt(() => tasks.getTaskResult(second.taskId, CallToolResultSchema));
    observed.cancelAgain = await attempt(() => tasks.cancelTask(second.taskId));
    observed.cancelCompleted = await attempt(() => tasks.cancelTask(first.taskId));
    observed.getUnknown = await attempt(() => tasks.getTask('no-such-task'));
    observed.listedAtEnd = await attempt(() => listAllTasks(client));
    return observed;
}

// The tool asks a question while it runs: the stream sees input_required, the
// SDK calls tasks/result, the question arrives on that request's stream, the
// client's elicitation handler answers, and the result comes back.
const elicitation = {
    capabilities: { elicitation: { form: {} } },
    prepare(client, observed) {
        observed.elicitations = [];
        client.setRequestHandler(ElicitRequestSchema, request => {
            observed.elicitations.push({
                message: request.params.message,
                requestedSchema: request.params.requestedSchema,
                relatedTask: request.params._meta?.[RELATED_TASK] ?? null
            });
            return { action: 'accept', content: { answer: 'forty-two' } };
        });
    },
    async run(client, observed) {
        await client.listTools();
        observed.messages = [];
        const call = { name: 'ask', arguments: { question: 'What is the answer?' } };
        for await (const message of client.experimental.tasks.callToolStream(call)) {
            observed.messages.push(describeMessage(message));
        }
        const created = observed.messages[0];
        if (created?.type === 'taskCreated') {
            observed.afterResult = await client.experimental.tasks.getTask(created.taskId);
        }
        return observed;
    }
};

// Stateless HTTP has no way to send the question to the client, so the task
// waits in input_required; the client answers it with the tasks_respond tool
// instead, then collects the result with tasks/result.
const answerByTool = {
    capabilities: elicitation.capabilities,
    prepare: elicitation.prepare,
    async run(client, observed) {
        await client.listTools();
        const tasks = client.experimental.tasks;
        const created = await startTask(client, 'ask', { question: 'What is the answer?' });
        observed.created = created;
        let task = created;
        while (task.status === 'working') {
            await new Promise(resolve => setTimeout(resolve, task.pollInterval ?? 100));
            task = await tasks.getTask(created.taskId);
        }
        observed.waiting = task;
        observed.respond = await client.callTool({
            name: 'tasks_respond',
            arguments: { task_id: created.taskId, content: { answer: 'forty-two' } }
        });
        observed.result = await tasks.getTaskResult(created.taskId, CallToolResultSchema);
        observed.afterResult = await tasks.getTask(created.taskId);
        return observed;
    }
};

// A tool error in the 2025-11-25 era: the task fails, and tasks/result still
// returns the tool's CallToolResult (isError: true).
async function toolError(client) {
    await client.listTools();
    const messages = [];
    const call = { name: 'broken', arguments: { reason: 'the input has 3 malformed rows' } };
    for await (const message of client.experimental.tasks.callToolStream(call)) {
        messages.push(describeMessage(message));
    }
    const taskId = messages[0]?.taskId;
    return {
        messages,
        task: await client.experimental.tasks.getTask(taskId),
        result: await attempt(() => client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))
    };
}

// Twenty streams at once on one connection. Every task waits on one shared
// gate, released only when all twenty exist, so all are alive together.
const STREAMS = 20;

async function concurrent(client) {
    await client.listTools();
    const gate = randomUUID();
    let created = 0;
    let releasing;
    const follow = async index => {
        const messages = [];
        const call = { name: 'gated', arguments: { name: gate } };
        for await (const message of client.experimental.tasks.callToolStream(call)) {
            messages.push(describeMessage(message));
            if (message.type === 'taskCreated') {
                created += 1;
                if (created === STREAMS) {
                    releasing = release(client, gate);
                }
            }
        }
        return { index, messages };
    };
    const streams = await Promise.all(Array.from({ length: STREAMS }, (_, index) => follow(index)));
    await releasing;
    return { gate, streams };
}

// A scenario that needs no client capabilities and no handlers.
const plain = scenario => ({ run: async (client, observed) => Object.assign(observed, await scenario(client)) });

export const SCENARIOS = {
    stream: plain(stream),
    lifecycle: plain(lifecycle),
    elicitation,
    'answer-by-tool': answerByTool,
    'tool-error': plain(toolError),
    concurrent: plain(concurrent)
};
