"""One channels_redis operation, for the C++ tests of the Redis layer (tests/redis).

Usage: channels_redis_peer.py REDIS_URL KEYS_JSON send CHANNEL MESSAGE_JSON
       channels_redis_peer.py REDIS_URL KEYS_JSON group_send GROUP MESSAGE_JSON
       channels_redis_peer.py REDIS_URL KEYS_JSON receive CHANNEL
       channels_redis_peer.py REDIS_URL KEYS_JSON new_channel_in GROUP

KEYS_JSON is the layer's symmetric_encryption_keys as a JSON list ([] for none).
receive prints the message as one JSON line (within 5 s, else exit 1). new_channel_in
makes a channel, adds it to GROUP, prints its name, then waits for one message on it and
prints that too (the caller reads the name, sends, reads the message).

Exit status: 0 done, 1 failed, 77 channels_redis is not installed. Run it with Debian's
/usr/bin/python3, where python3-channels-redis lives.
"""

import asyncio
import json
import sys

TIMEOUT = 5.0

try:
    from channels_redis.core import RedisChannelLayer
except ImportError as e:
    print(f"SKIP: channels_redis is not installed ({e})")
    sys.exit(77)


async def main(url, keys, op, name, rest):
    layer = RedisChannelLayer(hosts=[url], symmetric_encryption_keys=keys or None)
    try:
        if op == "send":
            await layer.send(name, json.loads(rest[0]))
        elif op == "group_send":
            await layer.group_send(name, json.loads(rest[0]))
        elif op == "receive":
            message = await asyncio.wait_for(layer.receive(name), TIMEOUT)
            print(json.dumps(message, sort_keys=True), flush=True)
        elif op == "new_channel_in":
            channel = await layer.new_channel()
            await layer.group_add(name, channel)
            print(channel, flush=True)
            message = await asyncio.wait_for(layer.receive(channel), TIMEOUT)
            print(json.dumps(message, sort_keys=True), flush=True)
        else:
            raise ValueError(f"unknown operation {op!r}")
    finally:
        await layer.close_pools()


if __name__ == "__main__":
    if len(sys.argv) < 5:
        print(__doc__)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4],
                         sys.argv[5:]))
    except Exception as e:  # the C++ test shows this output when it fails
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
