"""docs/deploying.md's nginx configuration, run: nginx terminates TLS and proxies to canal-chat
over a unix socket.

Usage: nginx_test.py CANAL_CHAT_EXECUTABLE DEPLOYING_MD

Takes the nginx block that follows the marker in docs/deploying.md, puts in the paths of a
temporary directory (the socket, a certificate made here with the openssl command) and a free
loopback port, and starts Debian's nginx with it in the foreground. canal-chat listens on the
socket with --proxy-headers, as the page says. Then, through nginx only:
  - GET /chat/ over https (the certificate checked) answers the room page;
  - two websocket clients (wss) in one room each receive what the other sends;
  - a room followed as server-sent events gets a message as it is sent (no proxy buffering);
  - the login page's csrftoken cookie is Secure: canal saw the https scheme nginx passed in
    X-Forwarded-Proto over the unix socket.
Exit status: 0 passed, 1 failed, 77 skipped (nginx, openssl or python3-websockets missing).
"""

import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
TIMEOUT = 5.0

try:
    import websockets
except ImportError as e:
    print(f"skipped: {e} (scripts/setup installs python3-websockets)")
    sys.exit(SKIP)

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
if NGINX is None or shutil.which("openssl") is None:
    print("skipped: nginx or openssl is not installed (scripts/setup installs both)")
    sys.exit(SKIP)

EXE, DOC = sys.argv[1], sys.argv[2]
MARKER = "<!-- nginx configuration, tested by tests/deploy/nginx_test.py -->"
failures = []


def check(cond, what):
    print(("PASS: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def documented_block():
    text = open(DOC, encoding="utf-8").read()
    at = text.index(MARKER)
    match = re.compile(r"```nginx\n(.*?)```", re.S).search(text, at)
    if match is None or text[at + len(MARKER):match.start()].strip():
        raise RuntimeError(f"no ```nginx block right after the marker in {DOC}")
    return match.group(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(work, block, sock, cert, key, port):
    replaced = {
        "unix:/run/canal/canal.sock": "unix:" + sock,
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/certs/chat.example.com.pem": cert,
        "/etc/ssl/private/chat.example.com.key": key,
    }
    for old, new in replaced.items():
        if old not in block:
            raise RuntimeError(f"docs/deploying.md's nginx block no longer has {old!r}")
        block = block.replace(old, new)
    temp = "\n".join(f"    {d}_temp_path {work}/{d};" for d in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {work}/nginx.pid;\n"
            f"error_log {work}/error.log info;\nevents {{ worker_connections 128; }}\n"
            f"http {{\n    access_log {work}/access.log;\n{temp}\n{block}\n}}\n")


def wait_until(condition, what, limit=TIMEOUT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not within {limit} s")


def start_chat(work, sock):
    users = os.path.join(work, "users.json")
    subprocess.run([EXE, "createuser", "--users", users, "alice"], input="alice-password\n",
                   text=True, check=True, capture_output=True, timeout=TIMEOUT * 4)
    rooms = os.path.join(work, "rooms.json")
    with open(rooms, "w") as f:
        json.dump([{"id": 1, "title": "Lobby", "staff_only": False}], f)
    proc = subprocess.Popen([EXE, "--unix-socket", sock, "--unix-socket-mode", "660",
                             "--proxy-headers", "--threads", "2", "--users", users,
                             "--rooms", rooms], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [sys.stdout.write("  canal-chat: " + line)
                                     for line in proc.stdout], daemon=True).start()
    wait_until(lambda: os.path.exists(sock), "canal-chat's socket file")
    return proc


def connectable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


async def two_clients(port, context):
    origin = f"https://127.0.0.1:{port}"
    uri = f"wss://127.0.0.1:{port}/ws/chat/deploy/"
    async with websockets.connect(uri, ssl=context, origin=origin, open_timeout=TIMEOUT) as a, \
            websockets.connect(uri, ssl=context, origin=origin, open_timeout=TIMEOUT) as b:
        await a.send(json.dumps({"message": "from a"}))
        got_b = json.loads(await asyncio.wait_for(b.recv(), TIMEOUT))["message"]
        got_a = json.loads(await asyncio.wait_for(a.recv(), TIMEOUT))["message"]
        await b.send(json.dumps({"message": "from b"}))
        got_a2 = json.loads(await asyncio.wait_for(a.recv(), TIMEOUT))["message"]
        return got_a, got_b, got_a2


async def event_follows(port, context):
    """A message sent over wss arrives on /chat/deploy/events through nginx."""
    loop = asyncio.get_running_loop()
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=context)
    conn.request("GET", "/chat/deploy/events", headers={"Accept": "text/event-stream"})
    response = await loop.run_in_executor(None, conn.getresponse)
    if response.status != 200:
        return f"status {response.status}"
    await asyncio.sleep(0.3)  # the follower joins the room
    origin = f"https://127.0.0.1:{port}"
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws/chat/deploy/", ssl=context,
                                  origin=origin, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"message": "seen as an event"}))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = await loop.run_in_executor(None, response.fp.readline)
            if line.startswith(b"data:"):
                conn.close()
                return json.loads(line[5:]).get("message")
    conn.close()
    return "no event"


def main():
    work = tempfile.mkdtemp(prefix="canal-deploy-")
    os.chmod(work, 0o755)
    chat = nginx = None
    try:
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        sock = os.path.join(work, "canal.sock")
        port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_config(work, documented_block(), sock, cert, key, port))
        chat = start_chat(work, sock)
        nginx = subprocess.Popen([NGINX, "-c", conf, "-p", work, "-e", os.path.join(work, "error.log")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_until(lambda: connectable(port) or nginx.poll() is not None, "nginx listening")
        if nginx.poll() is not None:
            raise RuntimeError("nginx exited: " + nginx.stdout.read())
        context = ssl.create_default_context(cafile=cert)

        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=context)
        conn.request("GET", "/chat/")
        response = conn.getresponse()
        body = response.read()
        check(response.status == 200 and b"<html" in body.lower(),
              f"GET /chat/ through nginx over https: {response.status}")
        conn.request("GET", "/login/")
        response = conn.getresponse()
        response.read()
        cookies = [v for k, v in response.getheaders()
                   if k.lower() == "set-cookie" and v.startswith("csrftoken=")]
        check(len(cookies) == 1 and "; Secure" in cookies[0],
              f"canal saw https from X-Forwarded-Proto: the csrftoken cookie is Secure: {cookies}")
        conn.close()

        got = asyncio.run(asyncio.wait_for(two_clients(port, context), 20))
        check(got == ("from a", "from a", "from b"),
              f"two wss clients in one room through nginx hear each other: {got}")
        got = asyncio.run(asyncio.wait_for(event_follows(port, context), 20))
        check(got == "seen as an event", f"server-sent events through nginx: {got!r}")
    except Exception as e:  # noqa: BLE001 - report any failure as the test's
        check(False, f"{type(e).__name__}: {e}")
    finally:
        for proc in (nginx, chat):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if failures and os.path.exists(os.path.join(work, "error.log")):
            print("nginx error.log:\n" + open(os.path.join(work, "error.log")).read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    print(f"deploy_nginx: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
