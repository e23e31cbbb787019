"""A room of the tutorial chat followed without websockets, beside a websocket client.

Usage: chat_events_test.py CANAL_CHAT_EXECUTABLE

Starts canal-chat (in-memory layer) on a free loopback port, then, in room "lobby":
  - an HTTP client (http.client) follows GET /chat/lobby/events, a text/event-stream;
  - a websocket client (Debian's python3-websockets) joins /ws/chat/lobby/;
  - what the websocket client sends arrives as a `data:` event, and what the HTTP client
    POSTs (application/json) arrives on the websocket and as an event;
  - bad requests get clear answers: 415 for a non-JSON POST, 400 for a malformed one,
    405 for PUT, 404 for a room name the chat refuses;
  - a follower that goes away is noticed (the server's connection count is not visible
    from here, so the room is checked to still work for the others).
Exit status: 0 passed, 1 failed, 77 skipped (python3-websockets is not installed).
"""

import asyncio
import http.client
import json
import sys

from chat_process import run_scenario

SKIP = 77
TIMEOUT = 5.0

try:
    import websockets
except ImportError as e:
    print(f"skipped: {e} (scripts/setup installs python3-websockets)")
    sys.exit(SKIP)


class EventStream:
    """A text/event-stream read line by line over http.client."""

    def __init__(self, port, room):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.conn.request("GET", f"/chat/{room}/events", headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()

    def next_event(self):
        """The next `data:` payload (comments and blank lines skipped)."""
        while True:
            line = self.response.readline()
            if not line:
                raise RuntimeError("the event stream ended")
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                return json.loads(line[len("data: "):])

    def close(self):
        self.conn.close()


def post(port, room, body, content_type="application/json", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.request(method, f"/chat/{room}/events", body=body, headers={"Content-Type": content_type})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, data


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


async def scenario(port):
    stream = EventStream(port, "lobby")
    check(stream.response.status == 200, "GET /chat/lobby/events answers 200")
    check(stream.response.getheader("Content-Type") == "text/event-stream",
          "the events come as text/event-stream")
    # The stream is open (its first comment line arrived) before anyone speaks.
    first = stream.response.readline().decode()
    check(first.startswith(": joined"), f"the stream opens with a comment ({first.strip()!r})")

    # As a browser on the chat's page would: the route checks the Origin (allowed hosts).
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/chat/lobby/",
                                  origin=f"http://127.0.0.1:{port}", open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"message": "from the websocket"}))
        echoed = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        check(echoed == {"message": "from the websocket"}, "the websocket client hears itself")
        event = await asyncio.to_thread(stream.next_event)
        check(event == {"message": "from the websocket"},
              "the event stream carries the websocket client's message")

        status, _ = await asyncio.to_thread(post, port, "lobby",
                                            json.dumps({"message": "from http"}))
        check(status == 204, "POST /chat/lobby/events answers 204")
        heard = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        check(heard == {"message": "from http"}, "the websocket client hears the POSTed message")
        event = await asyncio.to_thread(stream.next_event)
        check(event == {"message": "from http"}, "the event stream carries the POSTed message")

        status, body = await asyncio.to_thread(post, port, "lobby", "message=hi",
                                               "application/x-www-form-urlencoded")
        check(status == 415, f"a form POST is refused with 415 ({body!r})")
        status, body = await asyncio.to_thread(post, port, "lobby", "{not json")
        check(status == 400 and b"error" in body, f"malformed JSON is refused with 400 ({body!r})")
        status, body = await asyncio.to_thread(post, port, "lobby", "{}", "application/json", "PUT")
        check(status == 405, f"PUT is refused with 405 ({body!r})")
        status, body = await asyncio.to_thread(post, port, "bad%20room", "{}")
        check(status == 404, f"a room name the chat refuses answers 404 ({body!r})")

        # The follower goes away; the room goes on for the others.
        stream.close()
        await ws.send(json.dumps({"message": "after the follower left"}))
        heard = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        check(heard == {"message": "after the follower left"},
              "the room works after the follower left")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    return run_scenario(scenario, sys.argv[1], limit=30)


if __name__ == "__main__":
    sys.exit(main())
