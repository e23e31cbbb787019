// Headless-browser test of the multichat with the users of a Django site: log in on the
// Django site's own login page, open canal's multichat, see your Django username there.
//
//   node tests/browser/django_multichat_test.mjs path/to/canal-chat
//
// Starts the test Django site (tests/django_site/serve_site.py, Django 3.2 on SQLite) and
// canal-chat --django-db with the site's database and secret key file, each on a free
// loopback port; Chromium shares the session cookie between them (cookies ignore ports).
// Prints one PASS/FAIL line per check, exits 0 only if all passed (77: Django is missing).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const GLOBAL_TIMEOUT_MS = 90_000;
const WAIT_MS = 10_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let step = 'starting';
let checks = 0;
const output = [];

class CheckFailed extends Error {}
class Skipped extends Error {}

function pass(what) {
    checks += 1;
    console.log(`PASS: ${what}`);
}

function fail(what) {
    throw new CheckFailed(what);
}

// Spawns `command args`; resolves with the first stdout line `accept` returns a value for.
function startProcess(name, command, args, accept) {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const record = (l) => {
        output.push(`[${name}] ${l}`);
        if (output.length > 200) {
            output.shift();
        }
    };
    createInterface({ input: child.stderr }).on('line', record);
    const ready = new Promise((done, reject) => {
        child.on('error', (e) => reject(new CheckFailed(`cannot run ${command}: ${e.message}`)));
        child.on('exit', (code) => reject(code === 77
            ? new Skipped(`${name} skipped: ${output.join(' ')}`)
            : new CheckFailed(`${name} exited (code ${code}) before it was ready`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
            record(line);
            const value = accept(line);
            if (value !== undefined) {
                done(value);
            }
        });
    });
    return { child, ready };
}

function stop(proc) {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.stdin.end();
        proc.child.kill('SIGTERM');
    }
}

async function run(executable, box) {
    step = 'starting the Django site';
    box.dir = mkdtempSync(join(tmpdir(), 'canal-django-browser-'));
    box.site = startProcess('django', '/usr/bin/python3',
        [join(REPO_ROOT, 'tests/django_site/serve_site.py'), box.dir], (line) => {
            try {
                const info = JSON.parse(line);
                return info.url ? info : undefined;
            } catch {
                return undefined;
            }
        });
    const site = await box.site.ready;
    pass(`the Django site is up at ${site.url}/`);

    step = 'starting canal-chat';
    const rooms = join(box.dir, 'rooms.json');
    writeFileSync(rooms, JSON.stringify([
        { id: 1, title: 'Lobby', staff_only: false },
        { id: 2, title: 'Staff', staff_only: true },
    ]));
    box.canal = startProcess('canal-chat', executable, ['--host', '127.0.0.1', '--port', '0',
        '--threads', '2', '--rooms', rooms, '--django-db', site.db_url,
        '--django-secret-key-file', site.secret_file,
        '--django-login-url', `${site.url}/accounts/login/`,
        '--django-logout-url', `${site.url}/accounts/logout/`],
    (line) => /canal: listening on (https?:\/\/[^/\s]+)\/?/.exec(line)?.[1]);
    const base = await box.canal.ready;
    pass(`canal-chat --django-db is listening on ${base}/`);

    step = 'launching chromium';
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!existsSync(executablePath)) {
        fail(`no Chromium at ${executablePath} (set CHROMIUM to its path)`);
    }
    box.browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    const page = await (await box.browser.newContext()).newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`uncaught error: ${e.message}`));

    step = 'anonymous visit';
    await page.goto(`${base}/multichat/`);
    if (!page.url().startsWith(`${site.url}/accounts/login/`)) {
        fail(`an anonymous visit to canal's /multichat/ ended at ${page.url()}, not Django's login`);
    }
    pass('an anonymous visit to canal\'s /multichat/ is sent to the Django login page');

    step = 'logging in on Django';
    await page.locator('#id_username').fill('alice');
    await page.locator('#id_password').fill('alice-pass-1');
    await page.locator('#login').click();
    await page.waitForURL(`${site.url}/accounts/password_change/`, { timeout: WAIT_MS })
        .catch(() => fail(`Django's login ended at ${page.url()}`));
    pass('alice logged in with the Django site\'s own login view');

    step = 'opening the multichat';
    const csrfCookie = async () => (await page.context().cookies(site.url))
        .find((c) => c.name === 'csrftoken')?.value;
    const djangoCsrf = await csrfCookie();
    await page.goto(`${base}/multichat/`);
    try {
        await page.waitForFunction(
            () => document.querySelector('#username')?.textContent === 'alice' &&
                document.querySelector('#chat-status')?.textContent === 'connected',
            null, { timeout: WAIT_MS });
    } catch {
        fail(`canal's multichat did not show alice connected (username ` +
             `${JSON.stringify(await page.locator('#username').textContent())}, status ` +
             `${JSON.stringify(await page.locator('#chat-status').textContent())})`);
    }
    pass('canal\'s multichat shows the Django username, and its websocket is connected');
    if (!djangoCsrf || (await csrfCookie()) !== djangoCsrf) {
        fail('canal\'s page changed the Django site\'s csrftoken cookie');
    }
    pass('canal\'s page leaves the Django site\'s csrftoken cookie alone');

    step = 'chatting';
    await page.locator('#join-1').click({ timeout: WAIT_MS });
    const input = page.locator('#room-1 .room-input');
    await input.click();
    await input.pressSequentially('hello from django');
    await input.press('Enter');
    await page.waitForFunction(
        () => [...document.querySelectorAll('#room-1 .room-log .line')]
            .some((e) => e.textContent === 'alice: hello from django'), null, { timeout: WAIT_MS })
        .catch(() => fail('the message did not come back with the Django username'));
    pass('a message in room 1 comes back as "alice: hello from django"');

    step = 'logging out';
    await page.locator('#logout').click();
    await page.waitForURL((u) => u.href.startsWith(site.url), { timeout: WAIT_MS })
        .catch(() => fail(`the Log out button ended at ${page.url()}`));
    await page.goto(`${base}/multichat/`);
    if (!page.url().startsWith(`${site.url}/accounts/login/`)) {
        fail(`after logging out on Django, canal's /multichat/ ended at ${page.url()}`);
    }
    pass('the Log out button logs out on Django, and canal sends the visitor to log in again');
    if (problems.length > 0) {
        fail(`the pages reported problems: ${problems.join('; ')}`);
    }
}

async function main() {
    const executable = process.argv[2];
    const box = {};
    process.on('exit', () => {
        box.canal?.child.kill('SIGKILL');
        box.site?.child.kill('SIGKILL');
    });
    let timer;
    const timedOut = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CheckFailed(
            `timed out after ${GLOBAL_TIMEOUT_MS / 1000} s while ${step}`)), GLOBAL_TIMEOUT_MS);
    });
    let status = 1;
    try {
        await Promise.race([run(resolve(executable), box), timedOut]);
        status = 0;
    } catch (e) {
        if (e instanceof Skipped) {
            console.log(`SKIP: ${e.message}`);
            status = 77;
        } else {
            console.log(`FAIL: ${e instanceof CheckFailed ? e.message : `while ${step}: ${e.stack ?? e}`}`);
            console.log(output.join('\n'));
        }
    } finally {
        clearTimeout(timer);
        await box.browser?.close().catch(() => {});
        stop(box.canal);
        stop(box.site);
        if (box.dir) {
            rmSync(box.dir, { recursive: true, force: true });
        }
    }
    console.log(status === 0 ? `browser_django_multichat: PASS (${checks} checks)`
        : 'browser_django_multichat: FAIL');
    return status;
}

process.exitCode = await main();
process.exit(process.exitCode);
