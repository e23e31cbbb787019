#!/usr/bin/env node
// The Channels tutorial chat and an echo on Node's ws package, for canal's benchmarks: the
// same protocol as canal-chat. A room is a Set of its sockets; a message is serialized once
// and sent to each member in turn. ws has no outbound limit: a slow member's frames queue in
// memory without bound (--max-backpressure is accepted and ignored).
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');
const { parseArgs, chatRoom, chatOut, ERROR_REPLY, listening, exitOnSignals } =
    require('./common.js');

const NAME = 'ws';
const o = parseArgs(NAME, process.argv.slice(2));

const rooms = new Map(); // room name -> Set of sockets
const options = { noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 };
const chat = new WebSocketServer(options);
const echo = new WebSocketServer(options);

chat.on('connection', (ws, req, room) => {
    let members = rooms.get(room);
    if (!members) {
        members = new Set();
        rooms.set(room, members);
    }
    members.add(ws);
    ws.on('message', (data, isBinary) => {
        if (isBinary) return; // the chat reads text frames only
        const out = chatOut(data.toString('utf8'));
        if (out === null) {
            ws.send(ERROR_REPLY);
            return;
        }
        for (const member of members) {
            if (member.readyState === WebSocket.OPEN) {
                member.send(out, { binary: false });
            }
        }
    });
    ws.on('close', () => {
        members.delete(ws);
        if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
    });
});

echo.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
        ws.send(data, { binary: isBinary });
    });
});

const server = http.createServer((req, res) => {
    res.writeHead(404).end();
});

server.on('upgrade', (req, socket, head) => {
    socket.setNoDelay(true);
    const path = (req.url || '').split('?')[0];
    const reject = (status) => {
        socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (path === '/ws/echo/') {
        echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
        return;
    }
    const room = chatRoom(path);
    if (!room) {
        reject(room === null ? '403 Forbidden' : '404 Not Found');
        return;
    }
    chat.handleUpgrade(req, socket, head, (ws) => chat.emit('connection', ws, req, room));
});

server.listen(o.port, o.host, () => {
    listening(NAME, o.host, server.address().port);
});

exitOnSignals(() => server.close());
