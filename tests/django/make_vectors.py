#!/usr/bin/python3
"""Test vectors for canal::django, made by Django itself (Debian's python3-django 3.2).

    /usr/bin/python3 tests/django/make_vectors.py > tests/django/vectors.json
    /usr/bin/python3 tests/django/make_vectors.py --check tests/django/vectors.json

Time is fixed (time.time() is patched), so the output is the same on every run: --check
regenerates it and fails when the committed file differs (ctest django_vectors_current).
"""
import json
import sys
from unittest import mock

import django
from django.conf import settings

SECRET = "canal-test-secret-k3y-\u00e9"  # non-ASCII: Django encodes it as UTF-8
NOW = 1_800_000_000  # the signing time of every vector
settings.configure(
    SECRET_KEY=SECRET,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.sessions"],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore as DbStore  # noqa: E402
from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore  # noqa: E402
from django.core import signing  # noqa: E402
from django.utils import baseconv  # noqa: E402
from django.utils.crypto import salted_hmac  # noqa: E402


def main():
    import random
    from django.utils import crypto
    rng = random.Random(15)
    out = {"secret": SECRET, "now": NOW}
    crypto.secrets.choice = rng.choice  # CSRF strings from a seeded generator: same every run
    with mock.patch("time.time", return_value=NOW + 0.25):
        values = [
            {"_auth_user_id": "1", "_auth_user_backend":
             "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "ab" * 32},
            {"text": "caf\u00e9 \u2603 \U0001F600", "n": 42, "neg": -7, "b": True,
             "none": None, "list": [1, "two", [3]], "esc": "q\"b\\s\n\t\x01"},
            {"big": "x" * 500},  # compresses
            "hello",
            [],
        ]
        out["dumps"] = []
        for salt in ["django.core.signing", "django.contrib.sessions.SessionStore"]:
            for compress in [False, True]:
                for value in values:
                    out["dumps"].append({
                        "value": value, "salt": salt, "compress": compress,
                        "signed": signing.dumps(value, salt=salt, compress=compress)})
        # The legacy SHA-1 signature Django 3.2 still accepts.
        legacy = signing.TimestampSigner(salt="django.core.signing", algorithm="sha1")
        out["sha1_signed"] = {"value": values[0],
                              "signed": legacy.sign_object(values[0], compress=True)}
        # Signed with a good signature, but not decodable.
        plain = signing.TimestampSigner(salt="django.core.signing")
        out["bad_data"] = {
            "not_base64": plain.sign("!!not*base64"),
            "not_zlib": plain.sign("." + signing.b64_encode(b"not zlib at all").decode()),
            "not_json": plain.sign(signing.b64_encode(b"{not json").decode()),
            "not_object": plain.sign(signing.b64_encode(b"[1,2]").decode()),
            "no_timestamp": signing.Signer(salt="django.core.signing").sign("eyJhIjoxfQ"),
        }
        session = values[0]
        out["db_session"] = {"data": session, "encoded": DbStore().encode(session)}
        with mock.patch.object(settings, "DEFAULT_HASHING_ALGORITHM", "sha1", create=True):
            out["db_session_legacy"] = {"data": session, "encoded": DbStore().encode(session)}
        cookie = CookieStore()
        cookie.update(session)
        out["signed_cookie"] = {"data": session, "cookie": cookie._get_session_key(),
                                "max_age": settings.SESSION_COOKIE_AGE}
    password = "pbkdf2_sha256$260000$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="
    user = User(username="alice", password=password)
    out["auth_hash"] = {"password": password, "sha256": user.get_session_auth_hash(),
                        "sha1": user._legacy_get_session_auth_hash()}
    out["salted_hmac"] = [
        {"key_salt": "k", "value": "v", "algorithm": a,
         "hex": salted_hmac("k", "v", secret=SECRET, algorithm=a).hexdigest()}
        for a in ["sha256", "sha1"]]
    from django.middleware import csrf
    secret = csrf._get_new_csrf_string()
    out["csrf"] = {"secret": secret, "masked": csrf._mask_cipher_secret(secret)}
    out["base62"] = [{"n": n, "text": baseconv.base62.encode(n)}
                     for n in [0, 61, 62, NOW, 2**62, -5]]
    return out


if __name__ == "__main__":
    text = json.dumps(main(), indent=1, ensure_ascii=True) + "\n"
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2], encoding="ascii") as f:
            if f.read() != text:
                sys.exit(f"{sys.argv[2]} is not what Django makes now: regenerate it with "
                         f"{sys.argv[0]} > {sys.argv[2]}")
        print("vectors match Django's output")
    else:
        sys.stdout.write(text)
