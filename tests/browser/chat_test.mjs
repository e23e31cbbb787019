// Headless-browser test of the sample chat (apps/chat): two real Chromium pages in one room
// see each other's messages, and the lobby page leads to a room.
//
//   node tests/browser/chat_test.mjs path/to/canal-chat [--tls]
//
// With --tls, canal-chat serves https and wss with a throwaway certificate made here by the
// openssl command, and Chromium is told to accept it (--ignore-certificate-errors).
//
// Starts canal-chat on a free port, drives /usr/bin/chromium (or $CHROMIUM) with
// playwright-core, prints one PASS/FAIL line per check and exits 0 only if all passed.
// The server and the browser are stopped on every path, including a global 60 s timeout.
// Set CANAL_SCREENSHOT=/tmp/room.png to keep a screenshot of the room with two messages.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const GLOBAL_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 20_000;
const MESSAGE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

// Flags that make a root, headless, offline Chromium start reliably on a CI machine.
const CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];

// --tls: https and wss (see the top of this file).
const TLS = process.argv.includes('--tls');
let tlsDir = null;

// The repository root: canal-chat runs from there so that relative static paths resolve.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let step = 'starting';
let checks = 0;

function pass(what) {
    checks += 1;
    console.log(`PASS: ${what}`);
}

class CheckFailed extends Error {}

function fail(what) {
    throw new CheckFailed(what);
}

// Resolves `promise`, or rejects after `ms` with a message naming what was awaited.
function within(ms, promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// The server under test.

class Server {
    constructor(executable, extraArgs = []) {
        this.executable = executable;
        this.extraArgs = extraArgs;
        this.output = []; // the last lines of stdout and stderr, for failure reports
        this.exited = null; // {code, signal} once the process has ended
        this.child = null;
    }

    record(stream, line) {
        this.output.push(`[${stream}] ${line}`);
        if (this.output.length > 200) {
            this.output.shift();
        }
    }

    /** Starts canal-chat on a free port and resolves its base URL, e.g. http://127.0.0.1:4242 */
    start() {
        const args = ['--host', '127.0.0.1', '--port', '0', '--threads', '2', ...this.extraArgs];
        this.child = spawn(this.executable, args, {
            cwd: REPO_ROOT,
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        this.exitedPromise = new Promise((done) => {
            this.child.on('exit', (code, signal) => {
                this.exited = { code, signal };
                done(this.exited);
            });
        });
        createInterface({ input: this.child.stderr }).on('line', (l) => this.record('stderr', l));
        const stdout = createInterface({ input: this.child.stdout });

        const listening = new Promise((done, reject) => {
            this.child.on('error', (e) => {
                this.exited = { code: null, signal: null, error: e.message };
                reject(new CheckFailed(`cannot run ${this.executable}: ${e.message}`));
            });
            stdout.on('line', (line) => {
                this.record('stdout', line);
                const m = /canal: listening on (https?:\/\/[^/\s]+)\/?/.exec(line);
                if (m) {
                    done(m[1]);
                }
            });
            this.exitedPromise.then(({ code, signal }) =>
                reject(new CheckFailed(`canal-chat exited (code ${code}, signal ${signal}) before ` +
                                 `printing "canal: listening on http://HOST:PORT/"`)));
        });
        return within(STARTUP_TIMEOUT_MS, listening, 'waiting for "canal: listening on ..."')
            .catch((e) => fail(e.message));
    }

    /** Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s. */
    async stop() {
        if (!this.child || this.exited) {
            return this.exited;
        }
        this.child.kill('SIGTERM');
        try {
            return await within(5_000, this.exitedPromise, 'canal-chat exit after SIGTERM');
        } catch {
            console.log('note: canal-chat did not exit within 5 s of SIGTERM; sending SIGKILL');
            this.child.kill('SIGKILL');
            return await within(5_000, this.exitedPromise, 'canal-chat exit after SIGKILL').catch(() => null);
        }
    }

    killNow() {
        if (this.child && !this.exited) {
            this.child.kill('SIGKILL');
        }
    }

    printOutput() {
        if (this.output.length === 0) {
            console.log('canal-chat printed nothing');
            return;
        }
        console.log(`--- last ${this.output.length} lines of canal-chat output ---`);
        for (const line of this.output) {
            console.log(line);
        }
        console.log('--- end of canal-chat output ---');
    }
}

// ---------------------------------------------------------------------------------------
// Page helpers. Every page's uncaught errors and failed same-origin requests are recorded:
// the chat pages must load cleanly (style.css included), not only work.

const pageProblems = [];

function watch(page, name, base) {
    page.on('pageerror', (e) => pageProblems.push(`${name}: uncaught error: ${e.message}`));
    page.on('console', (m) => {
        // A failed load is also reported, with its URL, by the 'response' handler below.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
            pageProblems.push(`${name}: console error: ${m.text()}`);
        }
    });
    page.on('response', (r) => {
        const url = r.url();
        if (r.status() >= 400 && url.startsWith(base) && !url.endsWith('/favicon.ico')) {
            pageProblems.push(`${name}: HTTP ${r.status()} for ${url}`);
        }
    });
    page.on('requestfailed', (r) => {
        // An event stream the page closed ends as "aborted": that is its normal end.
        const closedStream = r.url().endsWith('/events') && r.failure()?.errorText === 'net::ERR_ABORTED';
        if (r.url().startsWith(base) && !closedStream) {
            pageProblems.push(`${name}: request failed: ${r.url()} (${r.failure()?.errorText})`);
        }
    });
    return page;
}

async function statusOf(page) {
    return page.locator('#chat-status').textContent().catch((e) => `<unreadable: ${e.message}>`);
}

async function logOf(page) {
    return page.locator('#chat-log').inputValue().catch((e) => `<unreadable: ${e.message}>`);
}

async function waitConnected(page, name) {
    try {
        await page.waitForFunction(
            () => document.querySelector('#chat-status')?.textContent === 'connected',
            null, { timeout: CONNECT_TIMEOUT_MS });
    } catch {
        fail(`${name} did not show "connected" within ${CONNECT_TIMEOUT_MS / 1000} s ` +
             `(#chat-status says ${JSON.stringify(await statusOf(page))})`);
    }
}

async function waitForLine(page, name, text) {
    try {
        await page.waitForFunction(
            (t) => (document.querySelector('#chat-log')?.value ?? '').split('\n').includes(t),
            text, { timeout: MESSAGE_TIMEOUT_MS });
    } catch {
        fail(`${name} did not show ${JSON.stringify(text)} within ${MESSAGE_TIMEOUT_MS / 1000} s ` +
             `(chat log: ${JSON.stringify(await logOf(page))}, ` +
             `status: ${JSON.stringify(await statusOf(page))})`);
    }
}

async function say(page, text) {
    const input = page.locator('#chat-message-input');
    await input.click();
    await input.pressSequentially(text);
    await input.press('Enter');
}

// ---------------------------------------------------------------------------------------
// The checks.

async function run(server, browserBox) {
    step = 'starting canal-chat';
    const base = await server.start();
    pass(`canal-chat is listening on ${base}/`);
    if (TLS !== base.startsWith('https://')) {
        fail(`canal-chat listens on ${base}: ${TLS ? 'not https with --tls' : 'https without --tls'}`);
    }

    step = 'launching chromium';
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!existsSync(executablePath)) {
        fail(`no Chromium at ${executablePath} (set CHROMIUM to its path)`);
    }
    browserBox.profile = mkdtempSync(join(tmpdir(), 'canal-browser-test-'));
    const context = await chromium.launchPersistentContext(browserBox.profile, {
        executablePath,
        headless: true,
        args: TLS ? [...CHROMIUM_ARGS, '--ignore-certificate-errors'] : CHROMIUM_ARGS,
        viewport: { width: 900, height: 700 },
    });
    browserBox.context = context;

    const suffix = randomBytes(4).toString('hex');
    const room = `lobby-${suffix}`;
    const roomUrl = `${base}/chat/${room}/`;

    step = 'opening two pages in one room';
    const page1 = watch(context.pages()[0] ?? (await context.newPage()), 'page 1', base);
    const page2 = watch(await context.newPage(), 'page 2', base);
    for (const [page, name] of [[page1, 'page 1'], [page2, 'page 2']]) {
        const response = await page.goto(roomUrl);
        if (!response || response.status() !== 200) {
            fail(`GET ${roomUrl} in ${name} answered ${response ? response.status() : 'nothing'}`);
        }
        if ((await page.locator('#chat-log').count()) !== 1) {
            fail(`GET ${roomUrl} did not serve the room page (no #chat-log)`);
        }
    }
    await waitConnected(page1, 'page 1');
    await waitConnected(page2, 'page 2');
    if (TLS) {
        const scheme = await page1.evaluate(() => chatSocket.url.split(':')[0]);
        if (scheme !== 'wss') {
            fail(`the room's websocket is ${scheme}, not wss, on an https page`);
        }
        pass('the room page came over https and its websocket is wss');
    }
    pass(`two pages on /chat/${room}/ both show "connected"`);

    step = 'page 1 sends a message';
    const first = `hello from page 1, ${suffix}`;
    await say(page1, first);
    await waitForLine(page1, 'page 1', first);
    await waitForLine(page2, 'page 2', first);
    pass(`a message typed in page 1 + Enter reaches both pages: ${JSON.stringify(first)}`);

    step = 'page 2 sends a message';
    // Non-ASCII, quotes and a backslash: the text must survive JSON and UTF-8 both ways.
    const second = `page 2 says "héllo" ✓ \\o/ ${suffix}`;
    await say(page2, second);
    await waitForLine(page1, 'page 1', second);
    await waitForLine(page2, 'page 2', second);
    pass(`a message typed in page 2 + Enter reaches both pages: ${JSON.stringify(second)}`);

    step = 'following the room with EventSource';
    // The same room without a websocket: an EventSource in page 1 hears page 2, and a
    // fetch() POST from page 1 reaches page 2's websocket.
    await page1.evaluate((url) => {
        window.sseEvents = [];
        window.sseOpen = false;
        const source = new EventSource(url);
        source.onopen = () => { window.sseOpen = true; };
        source.onmessage = (e) => window.sseEvents.push(JSON.parse(e.data).message);
        window.sseSource = source;
    }, `/chat/${room}/events`);
    try {
        await page1.waitForFunction(() => window.sseOpen, null, { timeout: CONNECT_TIMEOUT_MS });
    } catch {
        fail(`EventSource on /chat/${room}/events did not open within ${CONNECT_TIMEOUT_MS / 1000} s`);
    }
    const third = `over the websocket, heard by EventSource ${suffix}`;
    await say(page2, third);
    try {
        await page1.waitForFunction((t) => window.sseEvents.includes(t), third,
            { timeout: MESSAGE_TIMEOUT_MS });
    } catch {
        fail(`EventSource in page 1 did not get ${JSON.stringify(third)} ` +
             `(events: ${JSON.stringify(await page1.evaluate(() => window.sseEvents))})`);
    }
    const fourth = `POSTed by fetch ${suffix}`;
    const status = await page1.evaluate(async ([url, text]) => {
        const r = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ message: text }),
        });
        return r.status;
    }, [`/chat/${room}/events`, fourth]);
    if (status !== 204) {
        fail(`POST /chat/${room}/events from page 1 answered ${status}, not 204`);
    }
    await waitForLine(page2, 'page 2', fourth);
    await page1.evaluate(() => window.sseSource.close());
    pass('EventSource follows the room beside the websockets, and a POST reaches them');

    if (process.env.CANAL_SCREENSHOT) {
        await page1.screenshot({ path: process.env.CANAL_SCREENSHOT });
        console.log(`note: screenshot of page 1 saved to ${process.env.CANAL_SCREENSHOT}`);
    }

    step = 'lobby page';
    const lobby = watch(await context.newPage(), 'lobby page', base);
    const lobbyResponse = await lobby.goto(`${base}/chat/`);
    if (!lobbyResponse || lobbyResponse.status() !== 200) {
        fail(`GET ${base}/chat/ answered ${lobbyResponse ? lobbyResponse.status() : 'nothing'}`);
    }
    const question = 'What chat room would you like to enter?';
    if (!(await lobby.locator('body').innerText()).includes(question)) {
        fail(`GET ${base}/chat/ did not show "${question}"`);
    }
    const bad = 'no spaces!';
    await lobby.locator('#room-name-input').pressSequentially(bad);
    await lobby.locator('#room-name-input').press('Enter');
    if (!(await lobby.locator('#room-name-error').isVisible())) {
        fail(`typing ${JSON.stringify(bad)} + Enter in the lobby did not show #room-name-error`);
    }
    if (lobby.url() !== `${base}/chat/`) {
        fail(`typing ${JSON.stringify(bad)} + Enter in the lobby left it for ${lobby.url()}`);
    }
    await lobby.locator('#room-name-input').fill('');
    const other = `room-${suffix}`;
    await lobby.locator('#room-name-input').pressSequentially(other);
    await lobby.locator('#room-name-input').press('Enter');
    const target = `${base}/chat/${other}/`;
    try {
        await lobby.waitForURL(target, { timeout: MESSAGE_TIMEOUT_MS });
    } catch {
        fail(`typing "${other}" + Enter in the lobby did not go to ${target} (at ${lobby.url()})`);
    }
    await waitConnected(lobby, 'the room page reached from the lobby');
    pass(`/chat/ asks "${question}", refuses ${JSON.stringify(bad)}, and ` +
         `"${other}" + Enter goes to /chat/${other}/`);

    step = 'checking for page errors';
    if (pageProblems.length > 0) {
        fail(`the pages reported problems:\n  ${pageProblems.join('\n  ')}`);
    }
    pass('no JavaScript errors and no failed requests on any page');
}

async function main() {
    const executable = process.argv[2];
    if (!executable) {
        console.log('usage: node chat_test.mjs path/to/canal-chat');
        return 2;
    }
    let extraArgs = [];
    if (TLS) {
        // A throwaway self-signed certificate for 127.0.0.1.
        tlsDir = mkdtempSync(join(tmpdir(), 'canal-tls-'));
        const cert = join(tlsDir, 'cert.pem');
        const key = join(tlsDir, 'key.pem');
        const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
            '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
        if (made.status !== 0) {
            console.log(`FAIL: openssl req could not make a certificate: ${made.stderr}`);
            return 1;
        }
        extraArgs = ['--tls-cert', cert, '--tls-key', key];
    }
    const server = new Server(resolve(executable), extraArgs);
    const browserBox = { context: null, profile: null };
    process.on('exit', () => server.killNow()); // last resort, e.g. on an uncaught error

    let timer;
    const timedOut = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CheckFailed(
            `timed out after ${GLOBAL_TIMEOUT_MS / 1000} s while ${step}`)), GLOBAL_TIMEOUT_MS);
    });

    let ok = false;
    try {
        await Promise.race([run(server, browserBox), timedOut]);
        ok = true;
    } catch (e) {
        console.log(`FAIL: ${e instanceof CheckFailed ? e.message : `while ${step}: ${e.stack ?? e}`}`);
    } finally {
        clearTimeout(timer);
        if (browserBox.context) {
            await within(10_000, browserBox.context.close(), 'closing chromium')
                .catch((e) => console.log(`note: ${e.message}`));
        }
        if (browserBox.profile) {
            rmSync(browserBox.profile, { recursive: true, force: true });
        }
        if (server.exited) {
            // It never ran, or it ended by itself: a crash, or a refusal of its arguments.
            if (!server.exited.error) {
                console.log(`${ok ? 'FAIL' : 'note'}: canal-chat exited by itself ` +
                            `(code ${server.exited.code}, signal ${server.exited.signal})`);
            }
            ok = false;
        } else {
            const ended = await server.stop();
            if (ended && ended.signal === null && ended.code !== 0) {
                console.log(`note: canal-chat exited with code ${ended.code} after SIGTERM`);
            }
        }
        if (!ok) {
            server.printOutput();
        }
        if (tlsDir) {
            rmSync(tlsDir, { recursive: true, force: true });
        }
    }
    const name = TLS ? 'browser_chat_tls' : 'browser_chat';
    console.log(ok ? `${name}: PASS (${checks} checks)` : `${name}: FAIL`);
    return ok ? 0 : 1;
}

process.exitCode = await main();
// Exit now: nothing else is wanted once the server and browser are down.
process.exit(process.exitCode);
