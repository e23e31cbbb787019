"""canal-chat as a child process for the Python tests: started on a free loopback port."""

import asyncio
import subprocess
import sys
import threading

TIMEOUT = 5.0


def start_chat(exe, *args):
    """Starts `exe --host 127.0.0.1 --port 0 --threads 2 ARGS...`; returns (process, port).

    Its output is echoed, prefixed, as the test's own.
    """
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", "0", "--threads", "2", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = {}
    listening = threading.Event()

    def pump():
        for line in proc.stdout:
            sys.stdout.write("  canal-chat: " + line)
            prefix = "canal: listening on http://"
            if prefix in line and not listening.is_set():
                found["port"] = int(line.split(prefix)[1].strip().rstrip("/").rsplit(":", 1)[1])
                listening.set()

    threading.Thread(target=pump, daemon=True).start()
    if not listening.wait(TIMEOUT):
        proc.kill()
        raise RuntimeError("canal-chat printed no listening line")
    return proc, found["port"]


def stop_chat(proc):
    """SIGTERM, then SIGKILL if it has not exited within TIMEOUT."""
    proc.terminate()
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_scenario(scenario, exe, *args, limit=30):
    """Runs the coroutine `scenario(port)` against a canal-chat started with ARGS, within
    `limit` seconds; returns the exit status (0 passed, 1 failed, with the failure printed).
    """
    proc, port = start_chat(exe, *args)
    try:
        asyncio.run(asyncio.wait_for(scenario(port), limit))
        return 0
    except Exception as e:  # noqa: BLE001 - report any failure as the test's
        print(f"FAILED: {type(e).__name__}: {e}")
        return 1
    finally:
        stop_chat(proc)
