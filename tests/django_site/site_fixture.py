"""The Django site of the tests, run for real: its database (a SQLite file, or a PostgreSQL 15
cluster started in a temporary directory), migrations, users, and Django's own views served
over HTTP on a free loopback port. Used by django_users_test.py and the browser test.
"""
import http.cookiejar
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

HERE = Path(__file__).resolve().parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TIMEOUT = 10.0

# Users of every test: (username, password, is_staff).
USERS = [("alice", "alice-pass-1", False), ("bob", "bob-pass-1", False),
         ("boss", "boss-pass-1", True), ("carol", "carol-pass-1", False)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A PostgreSQL 15 cluster in a temporary directory, on a free loopback port. It runs as
    the `postgres` user when this process is root (PostgreSQL refuses to run as root)."""

    def __init__(self):
        if not (PG_BIN / "initdb").exists():
            raise FileNotFoundError("PostgreSQL 15 is not installed (scripts/setup: postgresql-15)")
        self.dir = Path(tempfile.mkdtemp(prefix="canal-pg-"))
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = None
        data = self.dir / "data"
        try:
            self._run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E",
                      "UTF8", "--no-sync")
            self.data = data
            self._run(PG_BIN / "pg_ctl", "-D", data, "-w", "-t", "30", "-l", self.dir / "log",
                      "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                      "-c fsync=off -c full_page_writes=off", "start")
        except BaseException:
            self.remove()  # a server that started late is stopped too
            raise
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args):
        subprocess.run([*self.as_user, *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                       timeout=60)

    def stop(self):
        if self.data is not None and (self.data / "postmaster.pid").exists():
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        self.data = None

    def remove(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server on a free loopback port, for the cache session engine."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def remove(self):
        self.proc.terminate()
        self.proc.wait(TIMEOUT)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Site:
    """The Django site: configured from `db_url` and `engine`, migrated, filled with USERS
    and served on a free loopback port (`self.url`)."""

    def __init__(self, workdir, db_url, engine="db", cache_url="", after_login=""):
        self.secret_file = Path(workdir) / "secret_key"
        self.secret_file.write_text("django-insecure-canal-test-\u00e9-" + os.urandom(8).hex() + "\n",
                                    encoding="utf-8")
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "site_settings",
            "CANAL_SITE_DB": db_url,
            "CANAL_SITE_SECRET_FILE": str(self.secret_file),
            "CANAL_SITE_ENGINE": engine,
            "CANAL_SITE_CACHE": cache_url,
        })
        if after_login:
            os.environ["CANAL_SITE_AFTER_LOGIN"] = after_login
        sys.path.insert(0, str(HERE))
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User
        for name, password, staff in USERS:
            User.objects.create_user(name, password=password, is_staff=staff)
        from django.core.handlers.wsgi import WSGIHandler
        self.server = make_server("127.0.0.1", 0, WSGIHandler(), server_class=_ThreadingServer,
                                  handler_class=_Quiet)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        from django.db import connections
        connections.close_all()

    def browser(self):
        return Browser(self)

    def whoami(self, cookie_name, cookie_value):
        """Who Django itself sees with this session cookie ('' for anonymous)."""
        req = urllib.request.Request(self.url + "/whoami/",
                                     headers={"Cookie": f"{cookie_name}={cookie_value}"})
        with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
            return res.read().decode()


class Browser:
    """A cookie jar and Django's forms over HTTP, as a browser uses them."""

    def __init__(self, site):
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name="sessionid"):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None

    def get(self, path):
        with self.opener.open(self.site.url + path, timeout=TIMEOUT) as res:
            return res.geturl(), res.read().decode()

    def _token(self, path):
        _, page = self.get(path)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not found:
            raise RuntimeError(f"no CSRF token in {path}")
        return found.group(1)

    def post(self, path, fields, token_from=None):
        fields = dict(fields, csrfmiddlewaretoken=self._token(token_from or path))
        body = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.site.url + path, body, timeout=TIMEOUT) as res:
            return res.geturl(), res.read().decode()

    def login(self, username, password):
        """Django's LoginView: GET the form, POST it; raises when the login fails."""
        url, page = self.post("/accounts/login/", {"username": username, "password": password})
        if "/accounts/login/" in url:
            raise RuntimeError(f"Django refused the login of {username}")
        return self

    def logout(self):
        """Django's LogoutView, posted with a CSRF token as a page's logout form does."""
        self.post("/accounts/logout/", {}, token_from="/accounts/password_change/")

    def change_password(self, old, new):
        """Django's PasswordChangeView (this browser's session stays logged in)."""
        url, _ = self.post("/accounts/password_change/",
                           {"old_password": old, "new_password1": new, "new_password2": new})
        if not url.endswith("/accounts/password_change/done/"):
            raise RuntimeError("Django refused the password change")
