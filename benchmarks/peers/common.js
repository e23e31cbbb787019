// What the two peer servers share: the command line, the chat protocol of canal-chat (the
// Channels tutorial) and the line that tells canal-bench which port they listen on.
'use strict';

const USAGE = `usage: NAME [--host H] [--port P] [--threads 1] [--max-backpressure BYTES]

Serves the Channels tutorial chat the way canal-chat does: ws://HOST:PORT/ws/chat/ROOM/
(every text frame {"message": TEXT} goes to every member of ROOM, the sender included, as
{"message": TEXT}) and ws://HOST:PORT/ws/echo/ (every frame comes back). --port 0 (the
default) picks a free port; the server prints "NAME: listening on http://HOST:PORT/".
SIGTERM or SIGINT ends it with exit status 0.
`;

/** --host, --port, --threads (1 only: both servers run on one thread), --max-backpressure. */
function parseArgs(name, argv) {
    const o = { host: '127.0.0.1', port: 0, threads: 1, maxBackpressure: 1 << 20 };
    const fail = (message) => {
        process.stderr.write(`${name}: ${message}\n${USAGE.replace(/NAME/g, name)}`);
        process.exit(2);
    };
    for (let i = 0; i < argv.length; ++i) {
        let flag = argv[i];
        let value;
        const eq = flag.indexOf('=');
        if (flag === '-h' || flag === '--help') {
            process.stdout.write(USAGE.replace(/NAME/g, name));
            process.exit(0);
        }
        if (eq > 0) {
            value = flag.slice(eq + 1);
            flag = flag.slice(0, eq);
        } else {
            if (i + 1 >= argv.length) fail(`${flag} needs a value`);
            value = argv[++i];
        }
        const number = () => {
            if (!/^[0-9]+$/.test(value)) fail(`${flag} expects a number, got '${value}'`);
            return Number(value);
        };
        if (flag === '--host') o.host = value;
        else if (flag === '--port') o.port = number();
        else if (flag === '--threads') o.threads = number();
        else if (flag === '--max-backpressure') o.maxBackpressure = number();
        else fail(`unknown option '${flag}'`);
    }
    if (o.port > 65535) fail('--port must be 0..65535');
    if (o.threads !== 1) fail('--threads: this server runs on one thread only (--threads 1)');
    return o;
}

/** The room of a /ws/chat/ROOM/ path, '' for another path, null for an invalid room name. */
function chatRoom(path) {
    const m = /^\/ws\/chat\/([^/]+)\/$/.exec(path);
    if (!m) return '';
    // canal-chat: the group chat_ROOM must be a valid group name (else HTTP 403).
    return /^[A-Za-z0-9._-]{1,94}$/.test(m[1]) ? m[1] : null;
}

const ERROR_REPLY = JSON.stringify({ error: 'expected {"message": TEXT}' });

/**
 * What the chat does with one text frame: the bytes to broadcast ({"message": TEXT},
 * serialized once), or null when the frame is not {"message": TEXT} (the sender then gets
 * ERROR_REPLY, as from canal-chat).
 */
function chatOut(text) {
    let content;
    try {
        content = JSON.parse(text);
    } catch (e) {
        return null;
    }
    if (content === null || typeof content !== 'object' || Array.isArray(content) ||
        typeof content.message !== 'string') {
        return null;
    }
    return Buffer.from(JSON.stringify({ message: content.message }));
}

function listening(name, host, port) {
    // canal-bench --spawn and benchmarks/run read the port from this line.
    process.stdout.write(`${name}: listening on http://${host}:${port}/\n`);
}

function exitOnSignals(cleanup) {
    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => {
            try {
                cleanup();
            } finally {
                process.exit(0);
            }
        });
    }
}

module.exports = { parseArgs, chatRoom, chatOut, ERROR_REPLY, listening, exitOnSignals };
