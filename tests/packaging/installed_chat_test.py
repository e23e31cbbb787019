"""canal-chat installed with the library finds its pages relative to itself, wherever the prefix goes.

Usage: installed_chat_test.py BUILD_DIR

Installs the build into a temporary prefix (`cmake --install`), moves the prefix elsewhere, runs
the moved bin/canal-chat on a free loopback port and fetches the room page and the style sheet
it serves from share/canal/chat/static. Then, with the pages removed, canal-chat must exit
with status 1 and a message that names where it looked and CANAL_CHAT_STATIC; with
CANAL_CHAT_STATIC pointing at a copy of the pages, it serves them again.
Exit status: 0 passed, 1 failed.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

TIMEOUT = 10.0


def start(exe, env=None):
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    prefix = "canal: listening on "
    for line in proc.stdout:
        if line.startswith(prefix):
            return proc, line[len(prefix):].strip()
    proc.wait(TIMEOUT)
    raise AssertionError(f"canal-chat did not start (exit {proc.returncode})")


def get(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.status, response.read().decode()


def main():
    build = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="canal-install-") as tmp:
        first = os.path.join(tmp, "first")
        subprocess.run(["cmake", "--install", build, "--prefix", first], check=True,
                       stdout=subprocess.DEVNULL)
        moved = os.path.join(tmp, "elsewhere", "canal")
        os.makedirs(os.path.dirname(moved))
        shutil.move(first, moved)
        exe = os.path.join(moved, "bin", "canal-chat")
        env = {k: v for k, v in os.environ.items() if k != "CANAL_CHAT_STATIC"}

        proc, base = start(exe, env)
        try:
            status, page = get(base + "chat/lobby/")
            if status != 200 or "<html" not in page.lower():
                failures.append(f"GET /chat/lobby/ from the moved prefix: {status} {page[:200]!r}")
            status, css = get(base + "static/style.css")
            expected = open(os.path.join(moved, "share", "canal", "chat", "static", "style.css")).read()
            if status != 200 or css != expected:
                failures.append(f"GET /static/style.css: {status}, not the installed file")
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)

        pages = os.path.join(tmp, "pages")
        shutil.move(os.path.join(moved, "share", "canal", "chat", "static"), pages)
        missing = subprocess.run([exe, "--port", "0"], capture_output=True, text=True,
                                 timeout=TIMEOUT, env=env)
        if missing.returncode != 1 or "CANAL_CHAT_STATIC" not in missing.stderr \
                or "share/canal/chat/static" not in missing.stderr:
            failures.append(f"without its pages: exit {missing.returncode}, {missing.stderr!r}")

        proc, base = start(exe, dict(env, CANAL_CHAT_STATIC=pages))
        try:
            status, page = get(base + "chat/lobby/")
            if status != 200:
                failures.append(f"with CANAL_CHAT_STATIC: GET /chat/lobby/ answered {status}")
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)

    for f in failures:
        print("FAIL:", f)
    print("installed canal-chat:", "failed" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
