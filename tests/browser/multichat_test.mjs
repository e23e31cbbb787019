// Headless-browser test of the multichat (apps/chat/multichat_app): two users log in from two
// separate browser contexts (two cookie jars), join the same room, and each sees the other's
// message with their username.
//
//   node tests/browser/multichat_test.mjs path/to/canal-chat
//
// Creates the users with `canal-chat createuser`, starts canal-chat with --users and --rooms
// on a free port, drives /usr/bin/chromium (or $CHROMIUM) with playwright-core, prints one
// PASS/FAIL line per check and exits 0 only if all passed. The server and the browser are
// stopped on every path, including a global 90 s timeout.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const GLOBAL_TIMEOUT_MS = 90_000;
const STARTUP_TIMEOUT_MS = 20_000;
const WAIT_MS = 10_000;

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
    constructor(executable, args) {
        this.executable = executable;
        this.args = args;
        this.output = [];
        this.exited = null;
        this.child = null;
    }

    record(stream, line) {
        this.output.push(`[${stream}] ${line}`);
        if (this.output.length > 200) {
            this.output.shift();
        }
    }

    start() {
        const args = ['--host', '127.0.0.1', '--port', '0', '--threads', '2', ...this.args];
        this.child = spawn(this.executable, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
                reject(new CheckFailed(`canal-chat exited (code ${code}, signal ${signal}) before listening`)));
        });
        return within(STARTUP_TIMEOUT_MS, listening, 'waiting for "canal: listening on ..."')
            .catch((e) => fail(e.message));
    }

    async stop() {
        if (!this.child || this.exited) {
            return this.exited;
        }
        this.child.kill('SIGTERM');
        try {
            return await within(5_000, this.exitedPromise, 'canal-chat exit after SIGTERM');
        } catch {
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
        console.log(`--- last ${this.output.length} lines of canal-chat output ---`);
        for (const line of this.output) {
            console.log(line);
        }
        console.log('--- end of canal-chat output ---');
    }
}

function createUser(executable, usersFile, name, password, staff) {
    const args = ['createuser', '--users', usersFile, name, ...(staff ? ['--staff'] : [])];
    const r = spawnSync(executable, args, { input: `${password}\n`, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) {
        fail(`canal-chat ${args.join(' ')} failed (status ${r.status}): ${r.stderr}`);
    }
    if (r.stdout.includes(password) || r.stderr.includes(password)) {
        fail('canal-chat createuser printed the password');
    }
}

// ---------------------------------------------------------------------------------------
// Page helpers.

const pageProblems = [];

function watch(page, name, base) {
    page.on('pageerror', (e) => pageProblems.push(`${name}: uncaught error: ${e.message}`));
    page.on('console', (m) => {
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
    return page;
}

async function logIn(page, name, base, user, password) {
    const response = await page.goto(`${base}/login/`);
    if (!response || response.status() !== 200) {
        fail(`GET /login/ in ${name} answered ${response ? response.status() : 'nothing'}`);
    }
    await page.locator('#username').fill(user);
    await page.locator('#password').fill(password);
    await page.locator('#login-submit').click();
    try {
        await page.waitForURL(`${base}/multichat/`, { timeout: WAIT_MS });
    } catch {
        fail(`${name}: logging in as ${user} did not lead to /multichat/ (at ${page.url()}, ` +
             `error: ${JSON.stringify(await page.locator('#login-error').textContent().catch(() => ''))})`);
    }
    try {
        await page.waitForFunction(
            () => document.querySelector('#chat-status')?.textContent === 'connected',
            null, { timeout: WAIT_MS });
    } catch {
        fail(`${name}: the multichat page did not show "connected" ` +
             `(#chat-status says ${JSON.stringify(await page.locator('#chat-status').textContent())})`);
    }
}

async function joinRoom(page, name, roomId) {
    await page.locator(`#join-${roomId}`).click({ timeout: WAIT_MS });
    try {
        await page.locator(`#room-${roomId} .room-log`).waitFor({ timeout: WAIT_MS });
    } catch {
        fail(`${name}: joining room ${roomId} did not show its log`);
    }
}

/** The lines of a room's log, as shown. */
async function lines(page, roomId) {
    return page.evaluate((id) => [...document.querySelectorAll(`#room-${id} .room-log .line`)]
        .map((e) => e.textContent), roomId);
}

async function waitForLine(page, name, roomId, text, present = true) {
    try {
        await page.waitForFunction(
            ([id, t, want]) => [...document.querySelectorAll(`#room-${id} .room-log .line`)]
                .some((e) => e.textContent === t) === want,
            [roomId, text, present], { timeout: WAIT_MS });
    } catch {
        const log = await lines(page, roomId).catch((e) => `<${e.message}>`);
        fail(`${name} did not ${present ? 'show' : 'drop'} ${JSON.stringify(text)} in room ` +
             `${roomId} (log: ${JSON.stringify(log)})`);
    }
}

/** The log entry (an <li>) showing `text`. */
function entry(page, roomId, text) {
    return page.locator(`#room-${roomId} .room-log li`, { has: page.locator('.line', { hasText: text }) });
}

async function say(page, roomId, text) {
    const input = page.locator(`#room-${roomId} .room-input`);
    await input.click();
    await input.pressSequentially(text);
    await input.press('Enter');
}

// ---------------------------------------------------------------------------------------
// The checks.

async function run(executable, box) {
    step = 'creating users and rooms';
    box.dir = mkdtempSync(join(tmpdir(), 'canal-multichat-test-'));
    const usersFile = join(box.dir, 'users.json');
    const roomsFile = join(box.dir, 'rooms.json');
    const suffix = randomBytes(4).toString('hex');
    const alicePw = `alice-${suffix}`;
    const bobPw = `bob-${suffix}`;
    createUser(executable, usersFile, 'alice', alicePw, false);
    createUser(executable, usersFile, 'bob', bobPw, false);
    const bossPw = `boss-${suffix}`;
    createUser(executable, usersFile, 'boss', bossPw, true);
    writeFileSync(roomsFile, JSON.stringify([
        { id: 1, title: 'Lobby', staff_only: false },
        { id: 2, title: 'Staff', staff_only: true },
    ]));
    pass('canal-chat createuser made alice and bob');

    step = 'starting canal-chat';
    box.server = new Server(executable, ['--users', usersFile, '--rooms', roomsFile]);
    const base = await box.server.start();
    pass(`canal-chat --users --rooms is listening on ${base}/`);

    step = 'launching chromium';
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!existsSync(executablePath)) {
        fail(`no Chromium at ${executablePath} (set CHROMIUM to its path)`);
    }
    box.browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    const aliceContext = await box.browser.newContext();
    const bobContext = await box.browser.newContext();
    const alice = watch(await aliceContext.newPage(), 'alice', base);
    const bob = watch(await bobContext.newPage(), 'bob', base);

    step = 'anonymous access';
    const anon = await bobContext.newPage();
    await anon.goto(`${base}/multichat/`);
    if (!anon.url().startsWith(`${base}/login/`)) {
        fail(`an anonymous GET /multichat/ ended at ${anon.url()}, not /login/`);
    }
    await anon.close();
    pass('an anonymous visit to /multichat/ is sent to /login/');

    step = 'wrong password';
    const wrong = await aliceContext.newPage();
    await wrong.goto(`${base}/login/`);
    await wrong.locator('#username').fill('alice');
    await wrong.locator('#password').fill('not-the-password');
    await wrong.locator('#login-submit').click();
    await wrong.waitForLoadState();
    if (!(await wrong.locator('#login-error').isVisible()) || wrong.url() !== `${base}/login/`) {
        fail(`a wrong password did not show the login form with an error (at ${wrong.url()})`);
    }
    await wrong.close();
    pass('a wrong password shows the form again with an error');

    step = 'logging in';
    await logIn(alice, 'alice', base, 'alice', alicePw);
    await logIn(bob, 'bob', base, 'bob', bobPw);
    pass('alice and bob logged in (two browser contexts) and their streams are connected');

    step = 'joining room 1';
    await joinRoom(alice, 'alice', 1);
    await joinRoom(bob, 'bob', 1);
    await waitForLine(alice, 'alice', 1, '* bob joined the room');
    pass('both joined room 1; alice saw bob enter');

    step = 'who is here';
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
        try {
            await page.waitForFunction(
                () => document.querySelector('#room-1 .present')?.textContent === 'Here: alice, bob',
                null, { timeout: WAIT_MS });
        } catch {
            const shown = await page.evaluate(
                () => document.querySelector('#room-1 .present')?.textContent);
            fail(`${name}'s room 1 did not show "Here: alice, bob" (showed ${JSON.stringify(shown)})`);
        }
    }
    pass('both pages show who is in room 1: "Here: alice, bob"');

    step = 'staff-only room';
    await bob.locator('#join-2').click();
    try {
        await bob.waitForFunction(
            () => document.querySelector('#chat-error')?.textContent.includes('ROOM_ACCESS_DENIED'),
            null, { timeout: WAIT_MS });
    } catch {
        fail('bob (not staff) joining the staff-only room did not show ROOM_ACCESS_DENIED');
    }
    pass('the staff-only room is refused to bob');

    step = 'exchanging messages';
    const first = `hello bob, ${suffix}`;
    await say(alice, 1, first);
    await waitForLine(alice, 'alice', 1, `alice: ${first}`);
    await waitForLine(bob, 'bob', 1, `alice: ${first}`);
    const second = `hi alice "héllo" ✓ ${suffix}`;
    await say(bob, 1, second);
    await waitForLine(alice, 'alice', 1, `bob: ${second}`);
    await waitForLine(bob, 'bob', 1, `bob: ${second}`);
    pass('each sees the other\'s message with the username');

    step = 'own messages';
    const mine = entry(alice, 1, `alice: ${first}`);
    const theirs = entry(alice, 1, `bob: ${second}`);
    if (!(await mine.evaluate((e) => e.classList.contains('own'))) ||
        (await theirs.evaluate((e) => e.classList.contains('own')))) {
        fail('alice\'s own message is not marked own, or bob\'s is');
    }
    if ((await theirs.locator('button.edit').count()) !== 0 ||
        (await mine.locator('button.edit').count()) !== 1) {
        fail('alice can edit exactly her own messages');
    }
    pass('own messages are marked, and only they have an Edit button');

    step = 'editing';
    const fixed = `hello bob (edited), ${suffix}`;
    await mine.locator('button.edit').click();
    const input = alice.locator('#room-1 .room-input');
    await input.fill(fixed);
    await input.press('Enter');
    await waitForLine(bob, 'bob', 1, `alice: ${fixed}`);
    await waitForLine(alice, 'alice', 1, `alice: ${fixed}`);
    await waitForLine(bob, 'bob', 1, `alice: ${first}`, false);
    if (!(await entry(bob, 1, `alice: ${fixed}`).locator('.edited').isVisible())) {
        fail('the edited message is not marked (edited) for bob');
    }
    pass('alice edits her message; bob sees the new text marked (edited)');

    step = 'deleting';
    await entry(bob, 1, `bob: ${second}`).locator('button.delete').click();
    await waitForLine(alice, 'alice', 1, `bob: ${second}`, false);
    await waitForLine(bob, 'bob', 1, `bob: ${second}`, false);
    pass('bob deletes his message; it disappears for both');

    step = 'history';
    const bossContext = await box.browser.newContext();
    const boss = watch(await bossContext.newPage(), 'boss', base);
    await logIn(boss, 'boss', base, 'boss', bossPw);
    await joinRoom(boss, 'boss', 1);
    await waitForLine(boss, 'boss', 1, `alice: ${fixed}`);
    const history = (await lines(boss, 1)).filter((l) => l.includes(suffix));
    if (history.length !== 1) {
        fail(`boss's history of room 1 is not the one remaining message: ${JSON.stringify(history)}`);
    }
    pass('a user joining later sees the room\'s history (edited, without the deleted message)');

    step = 'live room list';
    await boss.locator('#new-room-id').fill('live');
    await boss.locator('#new-room-title').fill('Live room');
    await boss.locator('#new-room-create').click();
    await alice.locator('#join-live').waitFor({ timeout: WAIT_MS }).catch(() =>
        fail('the room boss created did not appear in alice\'s room list'));
    await alice.locator('#join-live').click();
    await alice.locator('#room-live .room-log').waitFor({ timeout: WAIT_MS });
    await boss.locator('#remove-live').click();
    await alice.waitForFunction(() => !document.querySelector('#join-live') &&
        !document.querySelector('#room-live') &&
        document.querySelector('#chat-notice')?.textContent.includes('Live room'),
    null, { timeout: WAIT_MS }).catch(() =>
        fail('the room boss removed did not disappear from alice\'s page with a notice'));
    if ((await alice.locator('#new-room').isVisible()) || !(await boss.locator('#new-room').isVisible())) {
        fail('the new-room form shows for staff only');
    }
    pass('boss (staff) creates a room and alice sees it live, joins it, and is told when it is removed');

    step = 'logging out';
    // The "Log out" button POSTs the page's form with its CSRF token (Django's LogoutView).
    await bob.locator('#logout').click();
    await bob.waitForURL(`${base}/login/`, { timeout: WAIT_MS }).catch(() =>
        fail(`logging out ended at ${bob.url()}, not /login/`));
    await bob.goto(`${base}/multichat/`);
    if (!bob.url().startsWith(`${base}/login/`)) {
        fail(`after logging out, /multichat/ ended at ${bob.url()}, not /login/`);
    }
    pass('bob logged out with the form, and /multichat/ sends him to /login/ again');

    step = 'checking for page errors';
    // The staff-only refusal is a JSON error on the stream, not a page error.
    if (pageProblems.length > 0) {
        fail(`the pages reported problems:\n  ${pageProblems.join('\n  ')}`);
    }
    pass('no JavaScript errors and no failed requests on the multichat pages');
}

async function main() {
    const executable = process.argv[2];
    if (!executable) {
        console.log('usage: node multichat_test.mjs path/to/canal-chat');
        return 2;
    }
    const box = { browser: null, server: null, dir: null };
    process.on('exit', () => box.server?.killNow());
    let timer;
    const timedOut = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CheckFailed(
            `timed out after ${GLOBAL_TIMEOUT_MS / 1000} s while ${step}`)), GLOBAL_TIMEOUT_MS);
    });
    let ok = false;
    try {
        await Promise.race([run(resolve(executable), box), timedOut]);
        ok = true;
    } catch (e) {
        console.log(`FAIL: ${e instanceof CheckFailed ? e.message : `while ${step}: ${e.stack ?? e}`}`);
    } finally {
        clearTimeout(timer);
        if (box.browser) {
            await within(10_000, box.browser.close(), 'closing chromium')
                .catch((e) => console.log(`note: ${e.message}`));
        }
        if (box.server) {
            if (box.server.exited) {
                console.log(`FAIL: canal-chat exited by itself (code ${box.server.exited.code})`);
                ok = false;
            } else {
                await box.server.stop();
            }
            if (!ok) {
                box.server.printOutput();
            }
        }
        if (box.dir) {
            rmSync(box.dir, { recursive: true, force: true });
        }
    }
    console.log(ok ? `browser_multichat: PASS (${checks} checks)` : 'browser_multichat: FAIL');
    return ok ? 0 : 1;
}

process.exitCode = await main();
process.exit(process.exitCode);
