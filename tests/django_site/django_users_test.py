#!/usr/bin/python3
"""canal-chat's multichat with the users of a real Django site.

Usage: django_users_test.py CANAL_CHAT_EXECUTABLE sqlite|postgresql db|signed_cookies|cache

A Django 3.2 site (tests/django_site) is migrated on SQLite or on a PostgreSQL 15 cluster
started for the test, filled with users (boss is staff), and served over HTTP; users log in
through Django's own login view. canal-chat runs with --django-db and the site's secret key
file, and each browser's session cookie goes to canal's /chat/stream/ over a real websocket:
  - canal sees the username Django sees, messages carry it, and only staff enter the staff room;
  - no cookie, a tampered cookie and an expired session are anonymous (the handshake is 403);
  - a logout on the Django side ends the session in canal too (db and cache engines: the
    session is gone; signed_cookies: the browser's cookie is gone, as in Django);
  - a password change on the Django side ends the user's other sessions in canal, and the
    session that changed it stays logged in (Django's update_session_auth_hash);
  - a user made inactive is anonymous;
  - with PostgreSQL stopped, canal answers anonymous and keeps running.
For every cookie, canal's answer is compared with Django's own (/whoami/).
Exit status: 0 passed, 1 failed, 77 skipped (a Debian package is missing).
"""
import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from chat_process import start_chat, stop_chat  # noqa: E402

SKIP = 77
TIMEOUT = 5.0

try:
    import django  # noqa: F401
    import websockets
    if sys.argv[2] == "postgresql":
        import psycopg2  # noqa: F401
    if sys.argv[3] == "cache":
        import django_redis  # noqa: F401
except ImportError as e:
    print(f"skipped: {e} (scripts/setup installs python3-django, python3-psycopg2, "
          "python3-django-redis and python3-websockets)")
    sys.exit(SKIP)

import site_fixture  # noqa: E402  (after the skip: it needs nothing more)

ROOMS = [{"id": 1, "title": "Lobby", "staff_only": False},
         {"id": 2, "title": "Staff room", "staff_only": True}]


class Refused(Exception):
    """The websocket handshake was refused (an anonymous user)."""


async def open_stream(port, cookie):
    headers = [("Cookie", cookie)] if cookie else []
    try:
        return await websockets.connect(f"ws://127.0.0.1:{port}/chat/stream/",
                                        origin=f"http://127.0.0.1:{port}",
                                        extra_headers=headers, open_timeout=TIMEOUT)
    except websockets.exceptions.InvalidStatusCode as e:
        if e.status_code == 403:
            raise Refused() from e
        raise


async def ask(ws, command):
    await ws.send(json.dumps(command))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def canal_user(port, cookie_name, value):
    """Who canal sees: the username its room messages carry, whether the staff room lets
    them in; None when the handshake is refused."""
    try:
        ws = await open_stream(port, f"{cookie_name}={value}" if value is not None else "")
    except Refused:
        return None
    try:
        joined = await ask(ws, {"command": "join", "room": 1})
        # The room's history (kept by the multichat's default store) comes with the join.
        assert joined.get("join") == 1 and joined.get("title") == "Lobby", joined
        event = await ask(ws, {"command": "send", "room": 1, "message": "hi"})
        assert event["msg_type"] == 0 and event["message"] == "hi", event
        staff = await ask(ws, {"command": "join", "room": 2})
        assert (staff.get("join"), staff.get("title")) == (2, "Staff room") or \
            staff == {"error": "ROOM_ACCESS_DENIED"}, staff
        return event["username"], "join" in staff
    finally:
        await ws.close()


def check(site, port, cookie_name, value, expected, what):
    """canal and Django agree on who `value` is, and it is `expected` ('' for anonymous)."""
    seen = asyncio.run(asyncio.wait_for(canal_user(port, cookie_name, value), 3 * TIMEOUT))
    name = seen[0] if seen else ""
    # Ask Django after canal: Django flushes a session it finds stale.
    django_name = site.whoami(cookie_name, value) if value is not None else ""
    assert name == expected, f"{what}: canal sees {name!r}, expected {expected!r}"
    assert django_name == expected, f"{what}: Django sees {django_name!r}, expected {expected!r}"
    print(f"ok: {what}: {expected or 'anonymous'}")
    return seen


def tampered(value):
    return value[:-1] + ("A" if value[-1] != "A" else "B")


def expire(site, engine, browser, cookie_name):
    """Makes `browser`'s session expire as its engine would; returns the cookie to try."""
    value = browser.cookie(cookie_name)
    if engine == "db":
        from datetime import timedelta
        from django.contrib.sessions.models import Session
        from django.utils import timezone
        Session.objects.filter(pk=value).update(expire_date=timezone.now() - timedelta(seconds=1))
        return value
    if engine == "cache":
        from django.core.cache import cache
        cache.delete("django.contrib.sessions.cache" + value)
        return value
    # signed_cookies: the same session, signed longer ago than SESSION_COOKIE_AGE.
    import time
    from unittest import mock
    from django.conf import settings
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    data = SessionStore(value).load()
    assert data.get("_auth_user_id"), "the cookie holds no user"
    old = SessionStore()
    old.update(data)
    with mock.patch("time.time", return_value=time.time() - settings.SESSION_COOKIE_AGE - 10):
        return old._get_session_key()


def scenario(site, port, engine, db):
    name = "sessionid"
    alice = site.browser().login("alice", "alice-pass-1")
    alice_key = alice.cookie(name)
    assert alice_key, "Django set no session cookie"
    seen = check(site, port, name, alice_key, "alice", "alice logged in on Django")
    assert seen[1] is False, "alice entered the staff room"
    boss = site.browser().login("boss", "boss-pass-1")
    seen = check(site, port, name, boss.cookie(name), "boss", "boss (staff) logged in")
    assert seen[1] is True, "boss was refused the staff room"

    check(site, port, name, None, "", "no cookie")
    check(site, port, name, tampered(alice_key), "", "a tampered cookie")
    check(site, port, name, "x" * 32, "", "an unknown session key")

    # Logout on the Django side.
    bob = site.browser().login("bob", "bob-pass-1")
    bob_key = bob.cookie(name)
    check(site, port, name, bob_key, "bob", "bob logged in")
    bob.logout()
    assert bob.cookie(name) is None, "the logout left a session cookie"
    if engine == "signed_cookies":
        # The session lived in the cookie, which the browser dropped: a copy of it is still
        # valid for Django itself (its documented limit), and canal agrees.
        check(site, port, name, bob_key, "bob", "a copy of the cookie from before the logout")
    else:
        check(site, port, name, bob_key, "", "bob's session after the logout")

    # Password change on the Django side: alice's other session ends, this one goes on.
    other = site.browser().login("alice", "alice-pass-1")
    other_key = other.cookie(name)
    check(site, port, name, other_key, "alice", "alice's second session")
    alice.change_password("alice-pass-1", "alice-pass-2")
    check(site, port, name, other_key, "", "alice's other session after her password change")
    check(site, port, name, alice.cookie(name), "alice",
          "the session that changed the password")

    # Expiry.
    carol = site.browser().login("carol", "carol-pass-1")
    check(site, port, name, carol.cookie(name), "carol", "carol logged in")
    expired = expire(site, engine, carol, name)
    check(site, port, name, expired, "", "carol's expired session")

    # A user made inactive.
    boss_key = boss.cookie(name)
    from django.contrib.auth.models import User
    User.objects.filter(username="boss").update(is_active=False)
    check(site, port, name, boss_key, "", "boss made inactive")
    User.objects.filter(username="boss").update(is_active=True)
    check(site, port, name, boss_key, "boss", "boss active again")

    if db is not None:  # PostgreSQL: the database goes down
        site.stop()
        db.stop()
        try:
            asyncio.run(open_stream(port, f"{name}={boss_key}"))
            raise AssertionError("canal let boss in with the database down")
        except Refused:
            print("ok: database down: anonymous")
        assert asyncio.run(canal_user(port, name, None)) is None


def main():
    exe, backend, engine = sys.argv[1:4]
    work = Path(tempfile.mkdtemp(prefix="canal-django-"))
    pg = redis = site = proc = None
    status = 1
    try:
        if backend == "postgresql":
            pg = site_fixture.Postgres()
            db_url = pg.url
        else:
            db_url = f"sqlite://{work / 'db.sqlite3'}"
        if engine == "cache":
            redis = site_fixture.Redis()
        site = site_fixture.Site(work, db_url, engine, redis.url if redis else "")
        rooms = work / "rooms.json"
        rooms.write_text(json.dumps(ROOMS))
        args = ["--rooms", str(rooms), "--django-db", db_url,
                "--django-secret-key-file", str(site.secret_file),
                "--django-session-engine", engine]
        if redis:
            args += ["--django-cache", redis.url]
        proc, port = start_chat(exe, *args)
        scenario(site, port, engine, pg)
        assert proc.poll() is None, "canal-chat exited"
        print("passed")
        status = 0
    except Exception as e:  # noqa: BLE001 - report any failure as the test's
        import traceback
        traceback.print_exc()
        print(f"FAILED: {type(e).__name__}: {e}")
    finally:
        if proc:
            stop_chat(proc)
        if site:
            try:
                site.stop()
            except Exception:  # noqa: BLE001 - already stopped
                pass
        if redis:
            redis.remove()
        if pg:
            pg.remove()
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
