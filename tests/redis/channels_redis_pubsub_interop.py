"""canal's pub/sub layer and channels_redis.pubsub on one Redis, in both directions.

Usage: channels_redis_pubsub_interop.py CANAL_CHAT_EXECUTABLE

Starts a redis-server on a free loopback port (no persistence) and two canal-chat servers
with `--layer redis+pubsub://...` and --moderation on (one with async consumers, one with
sync consumers), then checks, with websocket clients in one room of the tutorial chat:
  1. the two canal-chat processes form one chat;
  2. channels_redis.pubsub's RedisPubSubChannelLayer group_sends to the canal consumers'
     group (chat_<room>), and a channel of it in that group receives what they group_send;
  3. send() both ways: the canal consumer's moderation request (send to chat-moderation)
     reaches a Python receive(); a Python send to chat-moderation reaches canal's worker
     (`canal-chat worker --layer redis+pubsub://...`), whose verdict reaches the room;
  4. a malformed payload published on the group's channel is skipped (the chat goes on);
  5. Redis restarted under the running servers: they subscribe again by themselves.
Before that, canal-chat with an unreachable pub/sub Redis must exit non-zero at once.

Exit status: 0 passed, 1 failed, 77 skipped (python3-channels-redis is not installed).
Run it with Debian's /usr/bin/python3, where python3-channels-redis lives.
"""

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import threading
import time

SKIP = 77
TIMEOUT = 5.0  # seconds allowed for each step

try:
    from channels_redis.pubsub import RedisPubSubChannelLayer
    import redis as redis_py  # python3-redis, a dependency of python3-channels-redis
except ImportError as e:
    RedisPubSubChannelLayer = None
    MISSING = str(e)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port=None):
    port = port or free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
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
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer PING on port {port}")


def start(name, args, ready, logs):
    """Starts ARGS; waits for a line containing READY; returns the process and the line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = threading.Event()
    found = {}

    def pump():  # a full pipe would block the child
        for line in proc.stdout:
            logs.append(f"[{name}] {line.rstrip()}")
            if ready in line and not seen.is_set():
                found["line"] = line
                seen.set()
        seen.set()

    threading.Thread(target=pump, daemon=True).start()
    if not seen.wait(2 * TIMEOUT) or "line" not in found:
        proc.kill()
        raise RuntimeError(f"{name} did not print {ready!r}")
    return proc, found["line"]


def start_chat(exe, layer_url, style, logs, *extra):
    proc, line = start(f"canal-chat {style}",
                       [exe, "--host", "127.0.0.1", "--port", "0", "--consumer", style,
                        "--layer", layer_url, *extra], "listening on http://", logs)
    return proc, int(line.strip().rstrip("/").rsplit(":", 1)[1])


def check_unreachable_redis(exe):
    port = free_port()  # nothing listens there
    start_time = time.monotonic()
    try:
        done = subprocess.run([exe, "--port", "0", "--layer", f"redis+pubsub://127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=3 * TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("canal-chat with an unreachable Redis did not exit") from None
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"canal-chat exited 0 with an unreachable Redis: {output!r}"
    assert f"Redis 127.0.0.1:{port}" in output, f"no 'Redis 127.0.0.1:{port}' in {output!r}"
    assert time.monotonic() - start_time < TIMEOUT, "canal-chat took too long to give up"


async def recv_json(ws, who):
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    except asyncio.TimeoutError:
        raise AssertionError(f"{who}: nothing received within {TIMEOUT} s") from None


async def expect(ws, expected, who):
    got = await recv_json(ws, who)
    assert got == expected, f"{who}: got {got!r}, expected {expected!r}"


async def until_subscribed(raw, channel, count=1):
    """Waits until Redis counts COUNT subscribers of CHANNEL (pub/sub keeps nothing)."""
    deadline = time.monotonic() + 3 * TIMEOUT
    while dict(raw.pubsub_numsub(channel)).get(channel.encode(), 0) < count:
        assert time.monotonic() < deadline, f"nobody subscribed to {channel!r}"
        await asyncio.sleep(0.02)


async def scenario(exe, async_port, sync_port, redis_port, restart_redis, logs):
    room = "interop"
    group = f"chat_{room}"  # apps/chat/chat_app.cpp group_for_room
    redis_url = f"redis://127.0.0.1:{redis_port}"
    raw = redis_py.Redis(host="127.0.0.1", port=redis_port, socket_timeout=TIMEOUT)
    layer = RedisPubSubChannelLayer(hosts=[redis_url])
    url_a = f"ws://127.0.0.1:{async_port}/ws/chat/{room}/"
    url_s = f"ws://127.0.0.1:{sync_port}/ws/chat/{room}/"
    async with websockets.connect(url_a, open_timeout=TIMEOUT,
                                  origin=f"http://127.0.0.1:{async_port}") as ws_a, \
            websockets.connect(url_s, open_timeout=TIMEOUT,
                               origin=f"http://127.0.0.1:{sync_port}") as ws_s:
        both = ((ws_a, "async client"), (ws_s, "sync client"))
        # The consumers subscribed to their group before accepting the handshake.
        # 1. Two canal-chat processes form one chat.
        await ws_a.send(json.dumps({"message": "from async"}))
        for ws, who in both:
            await expect(ws, {"message": "from async"}, who)
        await ws_s.send(json.dumps({"message": "from sync"}))
        for ws, who in both:
            await expect(ws, {"message": "from sync"}, who)

        # 2. channels_redis.pubsub group_sends to canal consumers, and receives theirs.
        await layer.group_send(group, {"type": "chat.message", "message": "from django"})
        for ws, who in both:
            await expect(ws, {"message": "from django"}, who)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await ws_s.send(json.dumps({"message": "to django"}))
        got = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
        assert got == {"type": "chat.message", "message": "to django"}, f"Django got {got!r}"
        for ws, who in both:
            await expect(ws, {"message": "to django"}, who)
        await layer.group_discard(group, channel)

        # 3. send() from canal to a Python receiver: a moderation request. (Those sent so far
        # found nobody subscribed to chat-moderation: lost, as pub/sub does.)
        moderation = asyncio.ensure_future(layer.receive("chat-moderation"))
        await until_subscribed(raw, "chat-moderation")
        await ws_a.send(json.dumps({"message": "check me"}))
        got = await asyncio.wait_for(moderation, TIMEOUT)
        assert got == {"type": "chat.moderate", "group": group, "message": "check me"}, \
            f"Django got {got!r}"
        for ws, who in both:
            await expect(ws, {"message": "check me"}, who)
        await layer.flush()  # unsubscribes chat-moderation

        # ... and from Python to canal's worker, whose verdict reaches the room.
        worker, _ = start("canal worker", [exe, "worker", "--layer",
                                           f"redis+pubsub://127.0.0.1:{redis_port}",
                                           "chat-moderation"], "worker listening", logs)
        try:
            await until_subscribed(raw, "chat-moderation")
            await layer.send("chat-moderation", {"type": "chat.moderate", "group": group,
                                                 "message": "spam from django"})
            for ws, who in both:
                await expect(ws, {"message": "spam from django", "verdict": "blocked"}, who)
        finally:
            worker.terminate()
            worker.wait(TIMEOUT)

        # 4. A malformed payload on the group's channel is skipped; the chat goes on.
        assert raw.publish(f"asgi__group__{group}", b"\xc1 not msgpack") == 2
        await ws_a.send(json.dumps({"message": "still here"}))
        for ws, who in both:
            await expect(ws, {"message": "still here"}, who)

        # 5. Redis restarts: both servers subscribe again by themselves. Pub/sub keeps
        # nothing, so wait (bounded) until Redis counts their subscriptions.
        await layer.flush()
        restart_redis()
        raw = redis_py.Redis(host="127.0.0.1", port=redis_port, socket_timeout=TIMEOUT)
        await until_subscribed(raw, f"asgi__group__{group}", 2)
        # And their publishing connections (each server: one to publish, one subscribed;
        # and `raw`): a consumer whose group_send finds Redis away closes with 1013.
        deadline = time.monotonic() + 3 * TIMEOUT
        while len(raw.client_list()) < 5:
            assert time.monotonic() < deadline, f"clients: {raw.client_list()!r}"
            await asyncio.sleep(0.02)
        after = RedisPubSubChannelLayer(hosts=[redis_url])
        await after.group_send(group, {"type": "chat.message", "message": "after restart"})
        for ws, who in both:
            await expect(ws, {"message": "after restart"}, who)
        # The canal side publishes again too (its publishing connection is back).
        await ws_s.send(json.dumps({"message": "sync is back"}))
        for ws, who in both:
            await expect(ws, {"message": "sync is back"}, who)
        await after.flush()
    raw.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    try:
        check_unreachable_redis(exe)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    if RedisPubSubChannelLayer is None:
        print(f"SKIP: channels_redis is not installed ({MISSING}); scripts/setup installs "
              "python3-channels-redis")
        return SKIP
    global websockets
    import websockets  # python3-websockets (scripts/setup): missing it fails, not skips

    procs = []
    logs = []

    def restart_redis():
        procs[0].kill()
        procs[0].wait()
        procs[0] = start_redis(redis_port)[0]

    try:
        redis, redis_port = start_redis()
        procs.append(redis)
        layer_url = f"redis+pubsub://127.0.0.1:{redis_port}"
        chat_async, async_port = start_chat(exe, layer_url, "async", logs, "--moderation", "on")
        procs.append(chat_async)
        chat_sync, sync_port = start_chat(exe, layer_url, "sync", logs, "--moderation", "on")
        procs.append(chat_sync)
        asyncio.run(asyncio.wait_for(
            scenario(exe, async_port, sync_port, redis_port, restart_redis, logs), 12 * TIMEOUT))
    except (AssertionError, RuntimeError, OSError, asyncio.TimeoutError,
            subprocess.TimeoutExpired, websockets.exceptions.WebSocketException) as e:
        print(f"FAIL: {type(e).__name__}: {e}")
        print("\n".join(logs))
        return 1
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
    print("PASS: canal's pub/sub layer and channels_redis.pubsub exchange messages both ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
