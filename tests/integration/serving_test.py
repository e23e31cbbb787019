"""Where and how canal-chat serves: TLS, a unix socket, an inherited descriptor, bad configuration.

Usage: serving_test.py CANAL_CHAT_EXECUTABLE

With real processes and sockets, on loopback and in a temporary directory:
  - TLS (--tls-cert/--tls-key, a certificate made here with the openssl command): https and
    wss with Python's ssl checking the certificate; the login page's csrftoken cookie is
    Secure over https and not over http; a plain-HTTP client on the TLS port gets no answer
    and the server goes on;
  - --unix-socket (with --unix-socket-mode): HTTP and a websocket over the socket file, its
    mode, a stale socket file replaced, a live one refused, the file removed at exit;
  - --fd: a listening TCP socket, and a listening unix socket, made here and inherited;
  - bad configuration exits with status 2 and one line naming the flag: missing, garbage or
    mismatched certificate and key, one without the other, a socket in a missing directory,
    a path that is another file, descriptors that are closed, not sockets, not listening;
  - --help lists canal-chat's own flags apart from the server's.
Exit status: 0 passed, 1 failed, 77 skipped (python3-websockets or openssl missing).
"""

import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading

SKIP = 77
TIMEOUT = 5.0

try:
    import websockets
except ImportError as e:
    print(f"skipped: {e} (scripts/setup installs python3-websockets)")
    sys.exit(SKIP)

if shutil.which("openssl") is None:
    print("skipped: no openssl command (scripts/setup installs openssl)")
    sys.exit(SKIP)

EXE = sys.argv[1]
failures = []


def check(cond, what):
    print(("PASS: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def start(*args, pass_fds=()):
    """Starts canal-chat with ARGS; returns (process, the address of its listening line)."""
    proc = subprocess.Popen([EXE, "--threads", "2", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, pass_fds=pass_fds)
    found = {}
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            sys.stdout.write("  canal-chat: " + line)
            prefix = "canal: listening on "
            if prefix in line and not ready.is_set():
                found["address"] = line.split(prefix)[1].strip()
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(TIMEOUT) or "address" not in found:
        proc.kill()
        raise RuntimeError("canal-chat printed no listening line")
    return proc, found["address"]


def stop(proc):
    proc.terminate()
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None


def refused(args, flag, pass_fds=()):
    """canal-chat with ARGS exits with status 2 and names FLAG."""
    proc = subprocess.run([EXE, "--host", "127.0.0.1", "--port", "0", *args], capture_output=True,
                          text=True, timeout=TIMEOUT * 2, pass_fds=pass_fds)
    out = (proc.stdout + proc.stderr).strip()
    first = out.splitlines()[0] if out else ""
    check(proc.returncode == 2 and flag in first,
          f"{' '.join(args)}: exit 2 naming {flag} (got {proc.returncode}: {first!r})")


async def chat_round_trip(uri, **kwargs):
    """A message sent in a tutorial room comes back."""
    origin = ("https://" if uri.startswith("wss") else "http://") + uri.split("/")[2]
    async with websockets.connect(uri, open_timeout=TIMEOUT, origin=origin, **kwargs) as ws:
        await ws.send(json.dumps({"message": "hello over " + uri.split(":")[0]}))
        got = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        return got.get("message")


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def make_users(directory):
    """The multichat's --users and --rooms files: flags to add."""
    users = os.path.join(directory, "users.json")
    subprocess.run([EXE, "createuser", "--users", users, "alice"], input="alice-password\n",
                   text=True, check=True, capture_output=True, timeout=TIMEOUT * 4)
    rooms = os.path.join(directory, "rooms.json")
    with open(rooms, "w") as f:
        json.dump([{"id": 1, "title": "Lobby", "staff_only": False}], f)
    return ["--users", users, "--rooms", rooms]


def csrf_cookie(conn):
    conn.request("GET", "/login/")
    response = conn.getresponse()
    response.read()
    cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
    return response.status, [c for c in cookies if c.startswith("csrftoken=")]


def test_tls(directory):
    cert, key = make_certificate(directory)
    users = make_users(directory)
    proc, address = start("--host", "127.0.0.1", "--port", "0", "--tls-cert", cert, "--tls-key",
                          key, *users)
    try:
        check(address.startswith("https://127.0.0.1:"), f"the listening line says https: {address}")
        port = int(address.rstrip("/").rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=cert)

        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=context)
        conn.request("GET", "/chat/")
        response = conn.getresponse()
        body = response.read()
        check(response.status == 200 and b"<html" in body.lower(),
              f"GET /chat/ over https, the certificate checked: {response.status}")
        status, cookies = csrf_cookie(conn)
        check(status == 200 and len(cookies) == 1 and "; Secure" in cookies[0],
              f"over https the csrftoken cookie is Secure: {cookies}")
        conn.close()

        got = asyncio.run(chat_round_trip(f"wss://127.0.0.1:{port}/ws/chat/lobby/", ssl=context))
        check(got == "hello over wss", f"a wss chat message comes back: {got!r}")

        # An untrusting client fails the handshake (the certificate is not in the system's CAs).
        try:
            bad = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT,
                                              context=ssl.create_default_context())
            bad.request("GET", "/chat/")
            check(False, "a client without the CA refuses the certificate")
        except ssl.SSLCertVerificationError:
            check(True, "a client without the CA refuses the certificate")

        # Plain HTTP on the TLS port: no HTTP answer, and the server goes on.
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET /chat/ HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = plain.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        check(not data.startswith(b"HTTP/"), f"plain HTTP on the TLS port gets no HTTP answer: {data[:40]!r}")
        got = asyncio.run(chat_round_trip(f"wss://127.0.0.1:{port}/ws/chat/lobby/", ssl=context))
        check(got == "hello over wss", "the server still serves wss after it")
    finally:
        stop(proc)

    # The same login page over plain http: the cookie is not Secure.
    proc, address = start("--host", "127.0.0.1", "--port", "0", *users)
    try:
        port = int(address.rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        status, cookies = csrf_cookie(conn)
        check(status == 200 and len(cookies) == 1 and "Secure" not in cookies[0],
              f"over http the csrftoken cookie is not Secure: {cookies}")
        conn.close()
    finally:
        stop(proc)

    # Bad certificates and keys.
    garbage = os.path.join(directory, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    other_cert, other_key = make_certificate(tempfile.mkdtemp(dir=directory))
    refused(["--tls-cert", os.path.join(directory, "missing.pem"), "--tls-key", key], "--tls-cert")
    refused(["--tls-cert", garbage, "--tls-key", key], "--tls-cert")
    refused(["--tls-cert", cert, "--tls-key", garbage], "--tls-key")
    refused(["--tls-cert", cert, "--tls-key", other_key], "--tls-key")
    refused(["--tls-cert", cert], "--tls-cert")
    refused(["--tls-key", key], "--tls-key")
    refused(["--tls-cert", directory, "--tls-key", key], "--tls-cert")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(self.path)


async def unix_round_trip(path):
    async with websockets.unix_connect(path, "ws://localhost/ws/chat/lobby/",
                                       origin="http://localhost", open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"message": "over a unix socket"}))
        return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)).get("message")


def get_over_unix(path):
    conn = UnixHTTPConnection(path)
    conn.request("GET", "/chat/")
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def test_unix_socket(directory):
    path = os.path.join(directory, "canal.sock")
    # A stale socket file, as a crashed process leaves it: replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    proc, address = start("--unix-socket", path, "--unix-socket-mode", "600")
    try:
        check(address == "unix:" + path, f"the listening line names the socket: {address}")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(stat.S_ISSOCK(os.stat(path).st_mode) and mode == 0o600,
              f"the socket file replaced the stale one, mode 600: {oct(mode)}")
        check(get_over_unix(path) == 200, "GET /chat/ over the unix socket")
        got = asyncio.run(unix_round_trip(path))
        check(got == "over a unix socket", f"a websocket chat message over the unix socket: {got!r}")
        # A second server on the same live socket is refused.
        second = subprocess.run([EXE, "--unix-socket", path], capture_output=True, text=True,
                                timeout=TIMEOUT * 2)
        check(second.returncode == 1 and "another process is listening" in second.stderr,
              f"a second server on a live socket exits 1: {second.stderr.strip()!r}")
        check(get_over_unix(path) == 200, "the first server still serves")
    finally:
        code = stop(proc)
    check(code == 0 and not os.path.exists(path), "after SIGTERM the socket file is gone")

    regular = os.path.join(directory, "regular-file")
    with open(regular, "w") as f:
        f.write("x")
    refused(["--unix-socket", regular], "--unix-socket")
    check(os.path.exists(regular), "a regular file at the path is left alone")
    refused(["--unix-socket", os.path.join(directory, "missing-dir", "canal.sock")], "--unix-socket")
    refused(["--unix-socket", path, "--unix-socket-mode", "999"], "--unix-socket-mode")
    refused(["--unix-socket", path, "--fd", "3"], "--fd")


def test_fd(directory):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    fd = listener.fileno()
    proc, address = start("--fd", str(fd), pass_fds=(fd,))
    listener.close()  # canal-chat holds its own copy
    try:
        check(address == f"fd {fd}", f"the listening line names the descriptor: {address}")
        got = asyncio.run(chat_round_trip(f"ws://127.0.0.1:{port}/ws/chat/lobby/"))
        check(got == "hello over ws", f"a chat message over the inherited TCP socket: {got!r}")
    finally:
        stop(proc)

    path = os.path.join(directory, "inherited.sock")
    unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_listener.bind(path)
    unix_listener.listen()
    fd = unix_listener.fileno()
    proc, address = start("--fd", str(fd), pass_fds=(fd,))
    unix_listener.close()
    try:
        check(get_over_unix(path) == 200, "GET /chat/ over an inherited unix socket")
    finally:
        stop(proc)

    refused(["--fd", "250"], "--fd 250")
    with open(os.path.join(directory, "plain-file"), "w") as f:
        refused(["--fd", str(f.fileno())], "--fd", pass_fds=(f.fileno(),))
    unbound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unbound.bind(("127.0.0.1", 0))
    refused(["--fd", str(unbound.fileno())], "--fd", pass_fds=(unbound.fileno(),))
    unbound.close()
    refused(["--fd", "-2"], "--fd")


def test_flags():
    out = subprocess.run([EXE, "--help"], capture_output=True, text=True, timeout=TIMEOUT).stdout
    server_at = out.find("canal server options")
    app_at = out.find("canal-chat options")
    check(0 <= server_at < app_at and out.find("--users") > app_at and out.find("--tls-cert") < app_at,
          "--help lists canal-chat's flags after the server's, under their own heading")
    version = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    check(version.returncode == 0 and re.fullmatch(r"canal \d+\.\d+\.\d+\n", version.stdout) is not None,
          f"--version prints canal's version: {version.stdout!r}")
    refused(["--ping-interval", "soon"], "--ping-interval")
    refused(["--ping-timeout", "0"], "--ping-timeout")
    refused(["--websocket-timeout", "1.0001"], "--websocket-timeout")


def main():
    directory = tempfile.mkdtemp(prefix="canal-serving-")
    try:
        for test in (test_tls, test_unix_socket, test_fd):
            try:
                test(directory)
            except Exception as e:  # noqa: BLE001 - report any failure as the test's
                check(False, f"{test.__name__}: {type(e).__name__}: {e}")
        test_flags()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"serving: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
