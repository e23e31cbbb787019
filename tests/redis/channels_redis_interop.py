"""canal and Django Channels' channels_redis on one Redis, in both directions.

Usage: channels_redis_interop.py CANAL_CHAT_EXECUTABLE

Starts a redis-server on a free loopback port (no persistence) and two canal-chat servers
using it as their channel layer (one with async consumers, one with sync consumers), then
checks, with websocket clients in rooms of the tutorial chat:
  - the two canal-chat processes form one chat;
  - a channels_redis layer group_sends to the group the canal consumers joined
    (chat_<room>) and the canal consumers forward the message to their clients;
  - a channel of the channels_redis layer joins that group and receives what the canal
    consumers group_send;
  - Redis restarted (empty) under the running servers: the canal layers reconnect by
    themselves and restore the group memberships of the open connections.
Before all that, canal-chat started with an unreachable Redis must exit non-zero at once
with a message naming Redis and the address.

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
    import redis.exceptions
    from channels_redis.core import RedisChannelLayer
except ImportError as e:
    RedisChannelLayer = None
    MISSING = str(e)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_path():
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def start_redis(port=None):
    port = port or free_port()
    proc = subprocess.Popen(
        [redis_server_path(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
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


def start_chat(exe, redis_port, style, logs, extra=()):
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "--port", "0", "--consumer", style,
         "--layer", f"redis://127.0.0.1:{redis_port}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # A thread keeps reading its output (a full pipe would block the server) and notes
    # the port from "canal: listening on http://127.0.0.1:PORT/".
    listening = threading.Event()
    found = {}

    def read():
        for line in proc.stdout:
            logs.append(f"[{style}] {line.rstrip()}")
            if "listening on http://" in line and not listening.is_set():
                found["port"] = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
                listening.set()
        listening.set()

    threading.Thread(target=read, daemon=True).start()
    if not listening.wait(2 * TIMEOUT) or "port" not in found:
        proc.kill()
        raise RuntimeError(f"canal-chat --consumer {style} did not start listening")
    return proc, found["port"]


async def expect(ws, message, who):
    try:
        text = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"{who}: nothing received within {TIMEOUT} s "
                             f"(expected {message!r})") from None
    got = json.loads(text)
    assert got == {"message": message}, f"{who}: got {got!r}, expected {message!r}"


async def group_send_after_restart(layer, group, message):
    for attempt in range(3):
        try:
            await layer.group_send(group, {"type": "chat.message", "message": message})
            return
        except redis.exceptions.ConnectionError:
            if attempt == 2:
                raise
            await asyncio.sleep(0.1)


def check_unreachable_redis(exe):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    try:
        done = subprocess.run([exe, "--port", "0", "--layer", f"redis://127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=3 * TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("canal-chat with an unreachable Redis did not exit") from None
    took = time.monotonic() - start
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"canal-chat exited 0 with an unreachable Redis: {output!r}"
    assert f"Redis 127.0.0.1:{port}" in output, f"no 'Redis 127.0.0.1:{port}' in {output!r}"
    assert took < TIMEOUT, f"canal-chat took {took:.1f} s to give up"


def group_members(redis_port, group):
    import redis  # python3-redis, a dependency of python3-channels-redis
    client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=TIMEOUT)
    try:
        return sorted(m.decode() for m in client.zrange(f"asgi:group:{group}", 0, -1))
    finally:
        client.close()


async def scenario(async_port, sync_port, redis_port, restart_redis):
    room = "interop"
    group = f"chat_{room}"  # apps/chat/chat_app.cpp group_for_room
    layer = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{redis_port}"])
    try:
        url_a = f"ws://127.0.0.1:{async_port}/ws/chat/{room}/"
        url_s = f"ws://127.0.0.1:{sync_port}/ws/chat/{room}/"
        # canal-chat's websockets check the Origin (localhost pages by default).
        origin_a = f"http://127.0.0.1:{async_port}"
        origin_s = f"http://127.0.0.1:{sync_port}"
        async with websockets.connect(url_a, open_timeout=TIMEOUT, origin=origin_a) as ws_a, \
                websockets.connect(url_s, open_timeout=TIMEOUT, origin=origin_s) as ws_s:
            # The consumers joined their group before accepting the handshake.
            # 1. Two canal-chat processes, either consumer style, form one chat.
            await ws_a.send(json.dumps({"message": "from async"}))
            await expect(ws_a, "from async", "async client")
            await expect(ws_s, "from async", "sync client")
            await ws_s.send(json.dumps({"message": "from sync"}))
            await expect(ws_a, "from sync", "async client")
            await expect(ws_s, "from sync", "sync client")

            # 2. channels_redis group_sends to canal consumers.
            await layer.group_send(group, {"type": "chat.message", "message": "from django"})
            await expect(ws_a, "from django", "async client")
            await expect(ws_s, "from django", "sync client")

            # 3. A channels_redis channel in the group receives what canal sends.
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            await ws_a.send(json.dumps({"message": "to django, from async"}))
            await ws_s.send(json.dumps({"message": "to django, from sync"}))
            received = []
            for _ in range(2):
                received.append(await asyncio.wait_for(layer.receive(channel), TIMEOUT))
            expected = [{"type": "chat.message", "message": "to django, from async"},
                        {"type": "chat.message", "message": "to django, from sync"}]
            assert sorted(received, key=str) == sorted(expected, key=str), \
                f"channels_redis received {received!r}, expected {expected!r}"
            for ws, who in ((ws_a, "async client"), (ws_s, "sync client")):
                got = {json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["message"]
                       for _ in range(2)}
                assert got == {"to django, from async", "to django, from sync"}, \
                    f"{who}: got {got!r}"

            # 4. The Python channel leaves; the canal consumers still get the group's messages.
            await layer.group_discard(group, channel)
            await layer.group_send(group, {"type": "chat.message", "message": "last"})
            await expect(ws_a, "last", "async client")
            await expect(ws_s, "last", "sync client")

            # 5. Redis restarts empty; the open connections' memberships come back by
            # themselves (bounded wait for the layers' reconnection back-off).
            members = group_members(redis_port, group)
            assert len(members) == 2, f"group members before the restart: {members!r}"
            restart_redis()
            deadline = time.monotonic() + 3 * TIMEOUT
            while group_members(redis_port, group) != members:
                assert time.monotonic() < deadline, \
                    f"memberships not restored: {group_members(redis_port, group)!r}"
                await asyncio.sleep(0.05)
            # This Python layer's pooled connection died with the old server: redis-py drops
            # it on the first command that finds it closed, and the next one reconnects.
            await group_send_after_restart(layer, group, "after restart")
            await expect(ws_a, "after restart", "async client")
            await expect(ws_s, "after restart", "sync client")
            # And the canal side sends again too.
            await ws_s.send(json.dumps({"message": "sync is back"}))
            await expect(ws_a, "sync is back", "async client")
            await expect(ws_s, "sync is back", "sync client")
    finally:
        await layer.flush()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    procs = []
    logs = []
    try:
        check_unreachable_redis(exe)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    if RedisChannelLayer is None:
        print(f"SKIP: channels_redis is not installed ({MISSING}); scripts/setup installs "
              "python3-channels-redis")
        return SKIP
    global websockets
    import websockets  # python3-websockets (scripts/setup): missing it fails, not skips

    def restart_redis():
        procs[0].kill()
        procs[0].wait()
        procs[0] = start_redis(redis_port)[0]

    try:
        redis, redis_port = start_redis()
        procs.append(redis)
        chat_async, async_port = start_chat(exe, redis_port, "async", logs)
        procs.append(chat_async)
        chat_sync, sync_port = start_chat(exe, redis_port, "sync", logs)
        procs.append(chat_sync)
        asyncio.run(asyncio.wait_for(scenario(async_port, sync_port, redis_port, restart_redis),
                                     10 * TIMEOUT))
    except (AssertionError, RuntimeError, OSError, asyncio.TimeoutError) as e:
        print(f"FAIL: {type(e).__name__}: {e}")
        print("\n".join(logs))
        return 1
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
    print("PASS: canal and channels_redis exchange group messages in both directions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
