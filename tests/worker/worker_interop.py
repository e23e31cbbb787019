"""canal's worker and Django Channels' worker on one Redis, in both directions.

Usage: worker_interop.py CANAL_CHAT_EXECUTABLE

Starts a redis-server on a free loopback port (no persistence), a canal-chat server with
--moderation on (each room chat message is also sent to the chat-moderation channel) and
checks, with a websocket client in a room:
  1. canal's worker (`canal-chat worker chat-moderation`, a sync consumer behind a
     ChannelNameRouter) answers each message with a verdict the room receives;
  2. a Django process's channel layer sends to chat-moderation and the canal worker's
     verdict reaches a channels_redis channel in the room's group;
  3. with canal's worker stopped, Django Channels' worker (`python3 -m django runworker
     chat-moderation`, tests/worker/moderationsite) receives what the canal consumer sends
     and its verdict reaches the canal client.
Before that, `canal-chat worker` refuses, with the reason, a channel its router lacks.

Exit status: 0 passed, 1 failed, 77 skipped (Debian's Django Channels is not installed).
Run it with Debian's /usr/bin/python3, where python3-django-channels lives.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

SKIP = 77
TIMEOUT = 5.0  # seconds allowed for each step
HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import channels  # noqa: F401
    import channels_redis  # noqa: F401
    import django  # noqa: F401
    import websockets
except ImportError as e:
    print(f"SKIP: {e}; scripts/setup installs python3-django-channels, "
          "python3-channels-redis and python3-websockets")
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer PING on port {port}")


def start(name, args, ready, logs, env=None):
    """Starts ARGS; waits for a line containing READY (None: does not wait)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    seen = threading.Event()
    found = {}

    def pump():
        for line in proc.stdout:
            logs.append(f"[{name}] {line.rstrip()}")
            if ready is not None and ready in line and not seen.is_set():
                found["line"] = line
                seen.set()
        seen.set()

    threading.Thread(target=pump, daemon=True).start()
    if ready is not None and (not seen.wait(2 * TIMEOUT) or "line" not in found):
        proc.kill()
        raise RuntimeError(f"{name} did not print {ready!r}")
    return proc, found.get("line", "")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{proc.args[0]} did not exit within {TIMEOUT} s of SIGTERM")


def django_env(redis_url):
    env = dict(os.environ)
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    env["DJANGO_SETTINGS_MODULE"] = "moderationsite.settings"
    env["MODERATION_LAYER"] = redis_url
    return env


def check_unknown_channel(exe, redis_url):
    done = subprocess.run([exe, "worker", "--layer", redis_url, "chat-moderation", "nope"],
                          capture_output=True, text=True, timeout=3 * TIMEOUT)
    output = done.stdout + done.stderr
    assert done.returncode == 2, f"worker with an unknown channel exited {done.returncode}"
    assert "no application for channel 'nope'" in output, output
    assert "'chat-moderation'" in output, output


async def expect(ws, expected, who):
    try:
        text = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"{who}: nothing received within {TIMEOUT} s "
                             f"(expected {expected!r})") from None
    got = json.loads(text)
    assert got == expected, f"{who}: got {got!r}, expected {expected!r}"


async def say(ws, text, verdict):
    await ws.send(json.dumps({"message": text}))
    await expect(ws, {"message": text}, "client")
    await expect(ws, {"message": text, "verdict": verdict}, "client")


async def scenario(exe, chat_port, redis_url, logs):
    from channels.layers import get_channel_layer  # a Django process's layer, from settings

    room = "interop"
    group = f"chat_{room}"  # apps/chat/chat_app.cpp group_for_room
    url = f"ws://127.0.0.1:{chat_port}/ws/chat/{room}/"
    origin = f"http://127.0.0.1:{chat_port}"
    layer = get_channel_layer()
    async with websockets.connect(url, open_timeout=TIMEOUT, origin=origin) as ws:
        # 1. canal consumer -> canal worker -> verdict to the room.
        worker, _ = start("canal worker", [exe, "worker", "--layer", redis_url,
                                           "chat-moderation"], "worker listening", logs)
        try:
            await say(ws, "hello", "ok")
            await say(ws, "buy SPAM now", "blocked")

            # 2. Django's layer sends to the canal worker; its verdict reaches Django.
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            await layer.send("chat-moderation", {"type": "chat.moderate", "group": group,
                                                 "message": "spam from django"})
            got = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
            assert got == {"type": "chat.verdict", "message": "spam from django",
                           "verdict": "blocked"}, f"Django received {got!r}"
            await expect(ws, {"message": "spam from django", "verdict": "blocked"}, "client")
            await layer.group_discard(group, channel)
        finally:
            stop(worker)
        assert worker.returncode == 0, f"canal's worker exited {worker.returncode} on SIGTERM"

        # 3. canal consumer -> Django's worker -> verdict to the canal client.
        django_worker, _ = start(
            "django worker", [sys.executable, "-m", "django", "runworker", "chat-moderation"],
            None, logs, env=django_env(redis_url))
        try:
            # runworker prints nothing when ready: the first message waits in the channel
            # until it listens.
            await ws.send(json.dumps({"message": "hello django"}))
            await expect(ws, {"message": "hello django"}, "client")
            try:
                text = await asyncio.wait_for(ws.recv(), 3 * TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError("no verdict from Django's worker") from None
            got = json.loads(text)
            assert got == {"message": "hello django", "verdict": "ok (django)"}, got
            await say(ws, "spam again", "blocked (django)")
        finally:
            django_worker.terminate()
            django_worker.wait(TIMEOUT)
    await layer.flush()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    procs = []
    logs = []
    try:
        redis, redis_port = start_redis()
        procs.append(redis)
        redis_url = f"redis://127.0.0.1:{redis_port}"
        os.environ.update({k: v for k, v in django_env(redis_url).items()
                           if k in ("DJANGO_SETTINGS_MODULE", "MODERATION_LAYER")})
        sys.path.insert(0, HERE)
        django.setup()
        check_unknown_channel(exe, redis_url)
        chat, line = start("canal-chat", [exe, "--host", "127.0.0.1", "--port", "0",
                                          "--threads", "2", "--moderation", "on", "--layer",
                                          redis_url], "listening on http://", logs)
        procs.append(chat)
        chat_port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
        asyncio.run(asyncio.wait_for(scenario(exe, chat_port, redis_url, logs), 12 * TIMEOUT))
    except (AssertionError, RuntimeError, OSError, asyncio.TimeoutError,
            subprocess.TimeoutExpired) as e:
        print(f"FAIL: {type(e).__name__}: {e}")
        print("\n".join(logs))
        return 1
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
    print("PASS: canal's worker and Django's worker each serve the other side's messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
