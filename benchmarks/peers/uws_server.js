#!/usr/bin/env node
// The Channels tutorial chat and an echo on uWebSockets.js (npm package uwebsockets), for
// canal's benchmarks: the same protocol as canal-chat. A room is a uWS topic and a message is
// published once to it (uWS's own fan-out, its fast path). A member whose outbound buffer
// would exceed --max-backpressure bytes is closed (closeOnBackpressureLimit), as canal closes
// a member whose outbound queue is full, instead of being skipped silently (uWS's default).
'use strict';

const uWS = require('uwebsockets');
const { parseArgs, chatRoom, chatOut, ERROR_REPLY, listening, exitOnSignals } =
    require('./common.js');

const NAME = 'uws';
const o = parseArgs(NAME, process.argv.slice(2));

const behavior = {
    compression: uWS.DISABLED,
    maxPayloadLength: 1 << 20,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    maxBackpressure: o.maxBackpressure,
    closeOnBackpressureLimit: true,
};

const app = uWS.App();

app.ws('/ws/chat/*', {
    ...behavior,
    upgrade: (res, req, context) => {
        const room = chatRoom(req.getUrl());
        if (!room) {
            res.writeStatus(room === null ? '403 Forbidden' : '404 Not Found').end();
            return;
        }
        res.upgrade({ topic: 'chat_' + room }, req.getHeader('sec-websocket-key'),
                    req.getHeader('sec-websocket-protocol'),
                    req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
        ws.subscribe(ws.getUserData().topic);
    },
    message: (ws, message, isBinary) => {
        if (isBinary) return; // the chat reads text frames only
        const out = chatOut(Buffer.from(message).toString('utf8'));
        if (out === null) {
            ws.send(ERROR_REPLY, false);
            return;
        }
        // app.publish reaches every subscriber, the sender included (ws.publish skips it).
        app.publish(ws.getUserData().topic, out, false);
    },
});

app.ws('/ws/echo/', {
    ...behavior,
    message: (ws, message, isBinary) => {
        ws.send(message, isBinary);
    },
});

app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
});

let listenSocket = null;
app.listen(o.host, o.port, (token) => {
    if (!token) {
        process.stderr.write(`${NAME}: cannot listen on ${o.host}:${o.port}\n`);
        process.exit(1);
    }
    listenSocket = token;
    listening(NAME, o.host, uWS.us_socket_local_port(token));
});

exitOnSignals(() => {
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
});
