"""The seeds' chats on canal-chat, driven by clients that send exactly the seeds' frames.

Usage: seed_chats_test.py CANAL_CHAT_EXECUTABLE async|sync

Starts canal-chat (in-memory layer, --consumer STYLE) on a free loopback port, then:
  - /channels/rooms/: two clients that behave as the Flutter app does (no Origin header,
    `{"message": {"message": TEXT, "type": "send"}}`) send at the same time; each gets the
    other's frame, relayed as it is (and its own);
  - /room/<group>/: plain text frames reach the group's members and no one else; `exit`
    closes the sender's connection and the group goes on; a bad group name is refused (403);
  - /room/: every connection of the process gets `TEXT...`, a closed one no longer counts;
  - /ws/chat/ and its page /chat: one room, each message prefixed with "运维："; a frame
    without a text message gets an error, for its sender only.
Exit status: 0 passed, 1 failed, 77 skipped (python3-websockets is not installed).
"""

import asyncio
import http.client
import json
import sys

from chat_process import run_scenario

SKIP = 77
TIMEOUT = 5.0
QUIET = 0.3  # how long "nothing arrives" is watched

try:
    import websockets
except ImportError as e:
    print(f"skipped: {e} (scripts/setup installs python3-websockets)")
    sys.exit(SKIP)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def recv_json(ws):
    return json.loads(await recv(ws))


async def nothing_arrives(ws):
    try:
        frame = await asyncio.wait_for(ws.recv(), QUIET)
    except asyncio.TimeoutError:
        return True
    print(f"  unexpected frame: {frame!r}")
    return False


async def refused_with(url, status, **kwargs):
    try:
        async with websockets.connect(url, open_timeout=TIMEOUT, **kwargs):
            return False
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code == status


async def flutter(port):
    url = f"ws://127.0.0.1:{port}/channels/rooms/"
    # websockets sends no Origin unless told to, as the Flutter app's IOWebSocketChannel.
    async with websockets.connect(url, open_timeout=TIMEOUT) as a, \
            websockets.connect(url, open_timeout=TIMEOUT) as b:
        frame_a = {"message": {"message": "hello from a", "type": "send"}}
        frame_b = {"message": {"message": "hello from b", "type": "send"}}
        await asyncio.gather(a.send(json.dumps(frame_a)), b.send(json.dumps(frame_b)))
        got_a = [await recv_json(a), await recv_json(a)]
        got_b = [await recv_json(b), await recv_json(b)]
        check(frame_b in got_a and frame_a in got_a,
              f"Flutter client a gets b's frame and its own, relayed as they are ({got_a})")
        check(frame_a in got_b and frame_b in got_b,
              f"Flutter client b gets a's frame and its own, relayed as they are ({got_b})")
        await a.send(json.dumps({"text": "no message key"}))
        reply = await recv_json(a)
        check("error" in reply, f"a frame without `message` gets an error ({reply})")
        check(await nothing_arrives(b), "the error goes to its sender only")
    check(await refused_with(f"ws://127.0.0.1:{port}/channels/", 404,
                             origin=f"http://127.0.0.1:{port}"),
          "/channels/ without a room is not a route (404)")


async def tutorial_route_relays_objects(port):
    url = f"ws://127.0.0.1:{port}/ws/chat/flutter/"
    origin = f"http://127.0.0.1:{port}"
    async with websockets.connect(url, origin=origin, open_timeout=TIMEOUT) as a:
        frame = {"message": {"message": "nested", "type": "send"}}
        await a.send(json.dumps(frame))
        check(await recv_json(a) == frame, "the tutorial route relays an object message too")


async def group_chat(port):
    origin = f"http://127.0.0.1:{port}"

    def connect(group):
        return websockets.connect(f"ws://127.0.0.1:{port}/room/{group}/", origin=origin,
                                  open_timeout=TIMEOUT)

    async with connect("g1") as a, connect("g1") as b, connect("g2") as c:
        await a.send("hello g1")
        check(await recv(a) == "hello g1", "the sender gets its plain text frame back")
        check(await recv(b) == "hello g1", "a member of the same group gets the plain text")
        check(await nothing_arrives(c), "a member of another group gets nothing")
        await a.send("exit")
        try:
            await asyncio.wait_for(a.recv(), TIMEOUT)
            check(False, "`exit` closes the sender's connection")
        except websockets.exceptions.ConnectionClosed as e:
            check(e.rcvd is not None and e.rcvd.code == 1000,
                  f"`exit` closes the sender's connection with 1000 ({e.rcvd})")
        await b.send("after exit")
        check(await recv(b) == "after exit", "the group goes on after a member's `exit`")
        await c.send("hello g2")
        check(await recv(c) == "hello g2", "the other group works")
        check(await nothing_arrives(b), "and stays separate")
    check(await refused_with(f"ws://127.0.0.1:{port}/room/bad%20group/", 403, origin=origin),
          "a group name the layer does not allow is refused (403)")
    check(await refused_with(f"ws://127.0.0.1:{port}/room/g1/", 403,
                             origin="http://elsewhere.example"),
          "another site's page is refused (403)")


async def connection_list(port):
    origin = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/room/"
    async with websockets.connect(url, origin=origin, open_timeout=TIMEOUT) as x:
        async with websockets.connect(url, origin=origin, open_timeout=TIMEOUT) as y:
            await x.send("hi")
            check(await recv(x) == "hi...", "/room/: the sender gets `TEXT...`")
            check(await recv(y) == "hi...", "/room/: every other connection gets `TEXT...`")
        await x.send("again")
        check(await recv(x) == "again...", "/room/: a closed connection is no longer in the list")
        check(await nothing_arrives(x), "/room/: and nothing is sent twice")


async def one_room(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request("GET", "/chat")
    res = conn.getresponse()
    page = res.read().decode()
    conn.close()
    check(res.status == 200 and "/ws/chat/" in page, "GET /chat serves the one-room page")
    origin = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/ws/chat/"
    async with websockets.connect(url, origin=origin, open_timeout=TIMEOUT) as a, \
            websockets.connect(url, origin=origin, open_timeout=TIMEOUT) as b:
        await a.send(json.dumps({"message": "deploy done"}))
        want = {"message": "运维：deploy done"}
        check(await recv_json(a) == want, "/ws/chat/: the sender gets its message, prefixed")
        check(await recv_json(b) == want, "/ws/chat/: everyone in the one room gets it")
        await b.send(json.dumps({"message": 5}))
        reply = await recv_json(b)
        check("error" in reply, f"/ws/chat/: a message that is not text gets an error ({reply})")
        check(await nothing_arrives(a), "/ws/chat/: the error goes to its sender only")


async def scenario(port):
    await flutter(port)
    await tutorial_route_relays_objects(port)
    await group_chat(port)
    await connection_list(port)
    await one_room(port)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("async", "sync"):
        print(__doc__)
        return 2
    return run_scenario(scenario, sys.argv[1], "--consumer", sys.argv[2], limit=60)


if __name__ == "__main__":
    sys.exit(main())
