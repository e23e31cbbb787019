#!/usr/bin/python3
"""Serves the test site (tests/django_site) on SQLite for the browser test, until stdin closes.

Usage: serve_site.py WORKDIR

Migrates a SQLite database in WORKDIR, creates site_fixture.USERS, serves Django's views on a
free loopback port, and prints one JSON line: {"url", "db_url", "secret_file"}.
Exit status 77 when python3-django is missing.
"""
import json
import sys
from pathlib import Path

try:
    import django  # noqa: F401
except ImportError as e:
    print(json.dumps({"skip": f"{e} (scripts/setup installs python3-django)"}), flush=True)
    sys.exit(77)

import site_fixture  # noqa: E402

work = Path(sys.argv[1])
db_url = f"sqlite://{work / 'db.sqlite3'}"
site = site_fixture.Site(work, db_url)
print(json.dumps({"url": site.url, "db_url": db_url, "secret_file": str(site.secret_file)}),
      flush=True)
sys.stdin.read()  # until the test closes our stdin (or ends)
site.stop()
