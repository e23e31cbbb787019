"""The multichat with its store, over real sockets: history on join, own messages, edit and
delete by the author or staff, rooms created and removed live, two canal-chat processes on one
database and one redis-server (and one of them killed: its users leave the rooms), and a
database that is unreachable at start or goes away mid-run. Usage: store_test.py CANAL_CHAT sqlite|postgresql async|sync

Skipped (exit 77) when python3-websockets (or, for postgresql, PostgreSQL 15) is missing.
"""
import asyncio
import http.cookiejar
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "django_site"))

try:
    import websockets
except ImportError:
    print("python3-websockets is missing: skipped")
    sys.exit(77)

from chat_process import start_chat, stop_chat  # noqa: E402
from site_fixture import PG_BIN, Postgres, Redis  # noqa: E402

TIMEOUT = 5.0
EXE, BACKEND, STYLE = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


class Client:
    """A logged-in user of one canal-chat: its cookies, and its websocket."""

    def __init__(self, port, username, password):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(self.base + "/login/", timeout=TIMEOUT).read().decode()
        marker = 'name="csrfmiddlewaretoken" value="'
        token = page.split(marker, 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrfmiddlewaretoken": token}).encode()
        self.opener.open(self.base + "/login/", form, timeout=TIMEOUT).read()
        self.ws = None

    def rooms(self):
        body = self.opener.open(self.base + "/multichat/rooms/", timeout=TIMEOUT).read()
        return [r["id"] for r in json.loads(body)["rooms"]]

    async def connect(self):
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.jar)
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/chat/stream/",
                                           origin=self.base, extra_headers={"Cookie": cookie},
                                           open_timeout=TIMEOUT)
        return self

    async def send(self, **command):
        await self.ws.send(json.dumps(command))

    async def recv(self):
        return json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))

    async def ask(self, **command):
        await self.send(**command)
        return await self.recv()

    async def quiet(self):
        """Nothing arrives within a short while."""
        try:
            got = await asyncio.wait_for(self.ws.recv(), 0.3)
            return json.loads(got)
        except asyncio.TimeoutError:
            return None


def make_files(directory):
    users = os.path.join(directory, "users.json")
    for name, staff in (("alice", False), ("bob", False), ("boss", True)):
        extra = ["--staff"] if staff else []
        subprocess.run([EXE, "createuser", "--users", users, name, *extra],
                       input=f"{name}-password\n", text=True, check=True, capture_output=True,
                       timeout=30)
    rooms = os.path.join(directory, "rooms.json")
    with open(rooms, "w") as f:
        json.dump([{"id": 1, "title": "Lobby"}, {"id": 2, "title": "Random"}], f)
    return users, rooms


def start(files, db, *extra, notifications="off"):
    users, rooms = files
    args = ["--users", users, "--rooms", rooms, "--consumer", STYLE, "--room-notifications",
            notifications, *extra]
    if db is not None:
        args += ["--db", db]
    return start_chat(EXE, *args)


async def login(port, name):
    return await Client(port, name, f"{name}-password").connect()


async def history_and_edits(port):
    alice, bob, boss = [await login(port, n) for n in ("alice", "bob", "boss")]
    joined = await alice.ask(command="join", room=1)
    check(joined == {"join": 1, "title": "Lobby", "history": []},
          f"an empty room's join reply has an empty history: {joined}")
    await bob.ask(command="join", room=1)
    await boss.ask(command="join", room=1)

    await alice.send(command="send", room=1, message="hello")
    mine, theirs = await alice.recv(), await bob.recv()
    await boss.recv()
    check(mine.get("own") is True and "own" not in theirs,
          f"the author's copy is marked own, the others' not: {mine} / {theirs}")
    check(isinstance(mine.get("id"), int) and mine["id"] == theirs["id"] and
          isinstance(mine.get("time"), int) and mine["message"] == "hello" and
          mine["username"] == "alice" and mine["msg_type"] == 0,
          f"a stored message carries its id and time: {theirs}")
    first = mine["id"]
    await bob.send(command="send", room=1, message="second")
    second = (await bob.recv())["id"]
    await alice.recv()
    await boss.recv()

    check(await bob.ask(command="edit", room=1, id=first, message="bob was here") ==
          {"error": "MESSAGE_ACCESS_DENIED"}, "someone else's message cannot be edited")
    check(await bob.ask(command="delete", room=1, id=first) ==
          {"error": "MESSAGE_ACCESS_DENIED"}, "someone else's message cannot be deleted")
    check(await alice.ask(command="edit", room=1, id=999999, message="x") ==
          {"error": "MESSAGE_NOT_FOUND"}, "an unknown id is MESSAGE_NOT_FOUND")
    check(await alice.ask(command="edit", room=2, id=first, message="x") ==
          {"error": "ROOM_ACCESS_DENIED"}, "editing in a room not joined is refused")
    await alice.ask(command="join", room=2)
    check(await alice.ask(command="edit", room=2, id=first, message="x") ==
          {"error": "MESSAGE_NOT_FOUND"}, "a message of another room is MESSAGE_NOT_FOUND")
    check(await alice.ask(command="edit", room=1, id="first", message="x") ==
          {"error": "COMMAND_INVALID"}, "an id that is not a number is COMMAND_INVALID")

    await alice.send(command="edit", room=1, id=first, message="hello, edited")
    edited_own, edited = await alice.recv(), await bob.recv()
    await boss.recv()
    check(edited.get("msg_type") == 6 and edited.get("id") == first and
          edited.get("message") == "hello, edited" and isinstance(edited.get("edited"), int) and
          edited_own.get("own") is True,
          f"an edit reaches the room as msg_type 6: {edited}")

    await boss.send(command="delete", room=1, id=second)  # staff may delete anyone's
    deleted = [await c.recv() for c in (alice, bob, boss)]
    check(all(d == {"msg_type": 7, "room": 1, "id": second, "username": "bob"} for d in deleted),
          f"a delete by staff reaches every member as msg_type 7: {deleted}")
    check(await bob.ask(command="edit", room=1, id=second, message="back") ==
          {"error": "MESSAGE_DELETED"}, "a deleted message cannot be edited")
    await boss.send(command="edit", room=1, id=first, message="hello, edited")
    by_staff = [await c.recv() for c in (alice, bob, boss)]
    check(all(e.get("msg_type") == 6 and e.get("username") == "alice" for e in by_staff) and
          by_staff[0].get("own") is True and "own" not in by_staff[2],
          f"staff may edit anyone's message; it stays the author's: {by_staff}")
    check(await alice.ask(command="send", room=3, message="x") == {"error": "ROOM_INVALID"},
          "an unknown room is still ROOM_INVALID")
    for c in (alice, bob, boss):
        await c.ws.close()
    return first


async def history_after_restart(port, first):
    bob = await login(port, "bob")
    alice = await login(port, "alice")
    joined = await bob.ask(command="join", room=1)
    history = joined.get("history", [])
    check(len(history) == 1 and history[0]["id"] == first and
          history[0]["message"] == "hello, edited" and "edited" in history[0] and
          "own" not in history[0],
          f"a new server's join sends the history (the deleted message left out): {history}")
    mine = (await alice.ask(command="join", room=1)).get("history", [])
    check(len(mine) == 1 and mine[0].get("own") is True, f"own messages in history: {mine}")
    await bob.ws.close()
    await alice.ws.close()


async def live_rooms(port):
    alice, boss = await login(port, "alice"), await login(port, "boss")
    check(await alice.ask(command="create_room", room="new", title="New") ==
          {"error": "ROOM_ACCESS_DENIED"}, "only staff create rooms")
    await boss.send(command="create_room", room="new", title="New room", staff_only=False)
    added = [await alice.recv(), await boss.recv()]
    check(all(a == {"room_added": {"id": "new", "title": "New room", "staff_only": False}}
              for a in added), f"a new room appears for everyone connected: {added}")
    check("new" in alice.rooms(), "the page's room list has it")
    check(await boss.ask(command="create_room", room="new", title="Again") ==
          {"error": "ROOM_EXISTS"}, "a room cannot be created twice")
    check(await boss.ask(command="create_room", room="bad id!", title="x") ==
          {"error": "ROOM_INVALID"}, "a room id that cannot be a group name is refused")
    joined = await alice.ask(command="join", room="new")
    check(joined.get("join") == "new", f"the new room can be joined: {joined}")
    check(await alice.ask(command="remove_room", room="new") == {"error": "ROOM_ACCESS_DENIED"},
          "only staff remove rooms")
    await boss.send(command="remove_room", room="new")
    removed = [await alice.recv(), await boss.recv()]
    check(all(r == {"room_removed": "new"} for r in removed),
          f"a removed room disappears for everyone, its members told: {removed}")
    check(await alice.ask(command="send", room="new", message="anyone?") ==
          {"error": "ROOM_INVALID"}, "a removed room takes no more messages")
    check("new" not in alice.rooms(), "the page's room list no longer has it")
    await alice.ws.close()
    await boss.ws.close()


def room_admin(files, db, *args):
    where = ["--db", db] if db else ["--rooms", files[1]]
    return subprocess.run([EXE, args[0], *where, *args[1:]], capture_output=True, text=True,
                          timeout=30)


async def room_admin_cli(port, files, db, layer):
    alice = await login(port, "alice")
    done = room_admin(files, db, "createroom", "--layer", layer, "7", "From the CLI")
    check(done.returncode == 0, f"canal-chat createroom: {done.returncode} {done.stderr}")
    got = await alice.recv()
    check(got == {"room_added": {"id": 7, "title": "From the CLI", "staff_only": False}},
          f"a room made with canal-chat createroom --layer appears at once: {got}")
    joined = await alice.ask(command="join", room=7)
    check(joined.get("join") == 7, f"and can be joined: {joined}")
    again = room_admin(files, db, "createroom", "7", "Twice")
    check(again.returncode == 1 and "exists" in again.stderr,
          f"createroom of an existing room exits 1: {again.returncode} {again.stderr.strip()}")
    bad = room_admin(files, db, "createroom", "no spaces", "x")
    check(bad.returncode == 2 and "not allowed" in bad.stderr,
          f"a bad room id exits 2: {bad.returncode} {bad.stderr.strip()}")
    quiet = room_admin(files, db, "createroom", "8", "Later")  # no --layer: seen on connect
    check(quiet.returncode == 0, "createroom without --layer")
    check(await alice.quiet() is None, "without --layer nobody is told at once")
    late = await login(port, "bob")
    check(8 in late.rooms(), "the next page load lists a room made without --layer")
    done = room_admin(files, db, "removeroom", "--layer", layer, "7")
    got = await alice.recv()
    check(done.returncode == 0 and got == {"room_removed": 7},
          f"canal-chat removeroom --layer: its members are told: {got}")
    gone = room_admin(files, db, "removeroom", "7")
    check(gone.returncode == 1 and "no room" in gone.stderr, "removing it again exits 1")
    usage = subprocess.run([EXE, "createroom", "7", "x"], capture_output=True, text=True)
    check(usage.returncode == 2 and "usage" in usage.stderr, "createroom without --db exits 2")
    await alice.ws.close()
    await late.connect()
    await late.ws.close()


async def two_processes(port_a, port_b):
    alice, bob = await login(port_a, "alice"), await login(port_b, "bob")
    await alice.ask(command="join", room=2)
    await bob.ask(command="join", room=2)
    await alice.send(command="send", room=2, message="across")
    mine, theirs = await alice.recv(), await bob.recv()
    check(theirs.get("message") == "across" and theirs.get("id") == mine.get("id"),
          f"a message sent on one process reaches the other with one id: {theirs}")
    check(await bob.quiet() is None, "and it arrives once")
    boss = await login(port_b, "boss")
    await boss.send(command="create_room", room="shared", title="Shared")
    got = await alice.recv()
    check(got.get("room_added", {}).get("id") == "shared",
          f"a room created on one process appears on the other: {got}")
    await boss.recv()
    joined = await alice.ask(command="join", room="shared")
    check(joined.get("join") == "shared", "and can be joined there")
    carol = await login(port_b, "alice")
    history = (await carol.ask(command="join", room=2)).get("history", [])
    check([m["message"] for m in history] == ["across"],
          f"both processes share one history, each message stored once: {history}")
    for c in (alice, bob, boss, carol):
        await c.ws.close()


async def crashed_process(port_a, port_b, proc_a):
    """A process killed without a word: the other one tells the room its users left."""
    alice, bob = await login(port_a, "alice"), await login(port_b, "bob")
    await alice.ask(command="join", room=1)
    await bob.ask(command="join", room=1)
    entered = await alice.recv()
    check(entered.get("msg_type") == 4 and entered.get("username") == "bob",
          f"alice, on one process, sees bob enter on the other: {entered}")
    here = await bob.ask(command="who", room=1)
    check(here == {"who": 1, "present": {"alice": 1, "bob": 1}},
          f"who lists the users of both processes: {here}")
    proc_a.kill()  # SIGKILL: no disconnect, no untrack
    proc_a.wait()
    left = json.loads(await asyncio.wait_for(bob.ws.recv(), 10))
    check(left.get("msg_type") == 5 and left.get("username") == "alice",
          f"within --layer-presence-ttl the other process says alice left: {left}")
    here = await bob.ask(command="who", room=1)
    check(here == {"who": 1, "present": {"bob": 1}}, f"and who no longer lists her: {here}")
    await bob.ws.close()


def run(coroutine):
    try:
        return asyncio.run(asyncio.wait_for(coroutine, 60))
    except Exception as e:  # noqa: BLE001 - a failure of the scenario is the test's
        check(False, f"{type(e).__name__}: {e}")


def exits(files, db, status, words):
    users, rooms = files
    done = subprocess.run([EXE, "--port", "0", "--users", users, "--rooms", rooms, "--db", db],
                          capture_output=True, text=True, timeout=30)
    check(done.returncode == status and words in done.stderr,
          f"--db {db}: exit {status} naming the problem ({done.returncode}: "
          f"{done.stderr.strip()})")


def main():
    if BACKEND == "postgresql" and not (PG_BIN / "initdb").exists():
        print("PostgreSQL 15 is missing: skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="canal-store-") as directory:
        files = make_files(directory)
        pg = Postgres() if BACKEND == "postgresql" else None
        redis = Redis()
        try:
            db = pg.url if pg else None  # None: the default, beside the rooms file
            proc, port = start(files, db)
            try:
                first = run(history_and_edits(port))
            finally:
                stop_chat(proc)
            if pg is None:
                check(os.path.exists(os.path.join(directory, "multichat.sqlite3")),
                      "the default database is multichat.sqlite3 beside the rooms file")
            proc, port = start(files, db)
            try:
                run(history_after_restart(port, first))
                run(live_rooms(port))
            finally:
                stop_chat(proc)

            layer = ["--layer", f"redis://127.0.0.1:{redis.port}"]
            a, port_a = start(files, db, *layer)
            b, port_b = start(files, db, *layer)
            try:
                run(two_processes(port_a, port_b))
                run(room_admin_cli(port_a, files, db, layer[1]))
            finally:
                stop_chat(a)
                stop_chat(b)

            # Presence with a short ttl, notifications on: a crashed process's users leave.
            presence = [*layer, "--layer-presence-ttl", "1"]
            a, port_a = start(files, db, *presence, notifications="on")
            b, port_b = start(files, db, *presence, notifications="on")
            try:
                run(crashed_process(port_a, port_b, a))
            finally:
                stop_chat(a)
                stop_chat(b)

            if pg is None:
                run_sqlite_locked(files, directory)
            if pg is not None:
                run_database_goes_away(files, pg)
                exits(files, pg.url.replace(str(pg.port), "1"), 1, "cannot be used")
            exits(files, "mysql://x/y", 2, "--db")
            check(subprocess.run([EXE, "--users", files[0], "--rooms", files[1], "--history",
                                  "-1"], capture_output=True, timeout=30).returncode == 2,
                  "--history -1 exits 2")
        finally:
            redis.remove()
            if pg:
                pg.remove()
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


def run_sqlite_locked(files, directory):
    """Another process holds the SQLite file's write lock: at start, then mid-run."""
    import sqlite3
    path = os.path.join(directory, "locked.sqlite3")
    url = "sqlite://" + path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    users, rooms = files
    done = subprocess.run([EXE, "--port", "0", "--users", users, "--rooms", rooms, "--db", url],
                          capture_output=True, text=True, timeout=30)
    check(done.returncode == 1 and "locked" in done.stderr,
          f"a database locked at start: exit 1 naming it ({done.returncode}: "
          f"{done.stderr.strip()})")
    holder.execute("ROLLBACK")
    proc, port = start(files, url)
    try:
        async def scenario():
            alice = await login(port, "alice")
            await alice.ask(command="join", room=1)
            holder.execute("BEGIN EXCLUSIVE")
            await alice.send(command="send", room=1, message="blocked")
            # SQLite waits 5 s for the lock before it gives up.
            got = json.loads(await asyncio.wait_for(alice.ws.recv(), 15))
            check(got == {"error": "STORAGE_FAILED"},
                  f"a database locked mid-run: the send is answered STORAGE_FAILED: {got}")
            holder.execute("ROLLBACK")
            got = await alice.ask(command="send", room=1, message="unblocked")
            check(got.get("message") == "unblocked", f"and works once it is free: {got}")
            await alice.ws.close()
        run(scenario())
    finally:
        stop_chat(proc)
        holder.close()


def run_database_goes_away(files, pg):
    proc, port = start(files, pg.url)
    data = pg.data
    try:
        async def scenario():
            alice = await login(port, "alice")
            await alice.ask(command="join", room=1)
            pg._run(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
            got = await alice.ask(command="send", room=1, message="into the void")
            check(got == {"error": "STORAGE_FAILED"},
                  f"with the database gone a send is answered STORAGE_FAILED: {got}")
            check(await alice.ask(command="leave", room=1) == {"leave": 1},
                  "commands that need no database still work")
            pg._run(PG_BIN / "pg_ctl", "-D", data, "-w", "-t", "30", "-l", pg.dir / "log", "-o",
                    f"-p {pg.port} -k {pg.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start")
            await alice.ask(command="join", room=1)
            got = await alice.ask(command="send", room=1, message="back again")
            check(got.get("message") == "back again" and "id" in got,
                  f"once it is back, messages are stored again: {got}")
            await alice.ws.close()
        run(scenario())
    finally:
        stop_chat(proc)


if __name__ == "__main__":
    sys.exit(main())
