"""canal and channels_redis with symmetric_encryption_keys on one Redis, in both directions.

Usage: channels_redis_encrypted_interop.py CANAL_CHAT_EXECUTABLE

Starts a redis-server on a free loopback port and two canal-chat servers (async and sync
consumers) with --layer-encryption-keys-file holding key K, then checks, with websocket
clients in a room of the tutorial chat and channels_redis layers:
  - a channels_redis layer with K group_sends and sends to the canal consumers: received;
  - a channels_redis channel with K in the group receives what the canal consumers
    group_send (canal encrypts one payload per Redis key);
  - a channels_redis layer with another key: its group_send never reaches the canal clients,
    and canal-chat logs why, naming the Redis key; what canal sends cannot be decrypted by
    it (cryptography's InvalidToken).

Exit status: 0 passed, 1 failed, 77 skipped (python3-channels-redis is not installed).
Run it with Debian's /usr/bin/python3, where python3-channels-redis lives.
"""

import asyncio
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from channels_redis_interop import TIMEOUT, SKIP, expect, start_redis, start_chat, \
    group_members  # noqa: E402

try:
    from channels_redis.core import RedisChannelLayer
    from cryptography.fernet import InvalidToken
except ImportError as e:
    RedisChannelLayer = None
    MISSING = str(e)

KEY = "django-insecure-5v#8)interop=key"  # what a Django project would put: SECRET_KEY
OTHER_KEY = "a different SECRET_KEY"


async def wait_for_log(logs, needle):
    deadline = time.monotonic() + TIMEOUT
    while not any(needle in line for line in logs):
        assert time.monotonic() < deadline, f"no log line with {needle!r} in:\n" + \
            "\n".join(logs)
        await asyncio.sleep(0.02)
    return next(line for line in logs if needle in line)


async def scenario(async_port, sync_port, redis_port, logs):
    import websockets
    room = "secret"
    group = f"chat_{room}"
    hosts = [f"redis://127.0.0.1:{redis_port}"]
    layer = RedisChannelLayer(hosts=hosts, symmetric_encryption_keys=[KEY])
    other = RedisChannelLayer(hosts=hosts, symmetric_encryption_keys=[OTHER_KEY])
    try:
        url_a = f"ws://127.0.0.1:{async_port}/ws/chat/{room}/"
        url_s = f"ws://127.0.0.1:{sync_port}/ws/chat/{room}/"
        origin_a = f"http://127.0.0.1:{async_port}"
        origin_s = f"http://127.0.0.1:{sync_port}"
        async with websockets.connect(url_a, open_timeout=TIMEOUT, origin=origin_a) as ws_a, \
                websockets.connect(url_s, open_timeout=TIMEOUT, origin=origin_s) as ws_s:
            # 1. The two encrypted canal-chat processes form one chat.
            await ws_a.send(json.dumps({"message": "canal to canal"}))
            await expect(ws_a, "canal to canal", "async client")
            await expect(ws_s, "canal to canal", "sync client")

            # 2. channels_redis with the same key: group_send, and send to one consumer.
            await layer.group_send(group, {"type": "chat.message", "message": "from django"})
            await expect(ws_a, "from django", "async client")
            await expect(ws_s, "from django", "sync client")
            canal_channels = group_members(redis_port, group)
            assert len(canal_channels) == 2, f"group members: {canal_channels!r}"
            for channel in canal_channels:
                await layer.send(channel, {"type": "chat.message", "message": "direct"})
            await expect(ws_a, "direct", "async client")
            await expect(ws_s, "direct", "sync client")

            # 3. A channels_redis channel in the group decrypts what canal group_sends.
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            await ws_a.send(json.dumps({"message": "to django"}))
            got = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
            assert got == {"type": "chat.message", "message": "to django"}, f"got {got!r}"
            await expect(ws_a, "to django", "async client")
            await expect(ws_s, "to django", "sync client")
            await layer.group_discard(group, channel)

            # 4. Another key: canal drops the message, logs why, and goes on.
            await other.group_send(group, {"type": "chat.message", "message": "wrong key"})
            line = await wait_for_log(logs, "cannot decrypt")
            assert "'asgispecific." in line, f"the log line does not name the key: {line!r}"
            assert "signature does not match" in line, f"no reason in: {line!r}"
            # The next message each client gets is this one: "wrong key" never came.
            await layer.group_send(group, {"type": "chat.message", "message": "right key"})
            await expect(ws_a, "right key", "async client")
            await expect(ws_s, "right key", "sync client")

            # 5. ... and cannot read what canal sends.
            stranger = await other.new_channel()
            await other.group_add(group, stranger)
            await ws_s.send(json.dumps({"message": "not for strangers"}))
            try:
                got = await asyncio.wait_for(other.receive(stranger), TIMEOUT)
                raise AssertionError(f"decrypted with another key: {got!r}")
            except InvalidToken:
                pass
            await other.group_discard(group, stranger)
            await expect(ws_a, "not for strangers", "async client")
            await expect(ws_s, "not for strangers", "sync client")
    finally:
        await layer.flush()
        await layer.close_pools()
        await other.close_pools()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    if RedisChannelLayer is None:
        print(f"SKIP: channels_redis is not installed ({MISSING}); scripts/setup installs "
              "python3-channels-redis")
        return SKIP
    procs = []
    logs = []
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = os.path.join(tmp, "layer-keys")
        with open(keys_file, "w", encoding="utf8") as f:
            f.write(f"\n{KEY}\n\n")  # blank lines are ignored
        os.chmod(keys_file, 0o600)
        extra = ["--layer-encryption-keys-file", keys_file]
        try:
            redis, redis_port = start_redis()
            procs.append(redis)
            chat_async, async_port = start_chat(exe, redis_port, "async", logs, extra)
            procs.append(chat_async)
            chat_sync, sync_port = start_chat(exe, redis_port, "sync", logs, extra)
            procs.append(chat_sync)
            asyncio.run(asyncio.wait_for(scenario(async_port, sync_port, redis_port, logs),
                                         10 * TIMEOUT))
        except (AssertionError, RuntimeError, OSError, asyncio.TimeoutError) as e:
            print(f"FAIL: {type(e).__name__}: {e}")
            print("\n".join(logs))
            return 1
        finally:
            for p in reversed(procs):
                p.kill()
                p.wait()
    print("PASS: canal and channels_redis exchange encrypted messages; another key is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
