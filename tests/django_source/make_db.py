"""Builds a Django project's database through Django itself, for the
import-django tests: `python make_db.py DATABASE` (a SQLite path or a
postgres:// URL of an empty database).

Prints JSON: {"users": {username: password or null}, "tokens": [{"key",
"username", "client", "live"}]}, with the client each key should have once
imported (multitoken and knox keys numbered by age, oldest first).
"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SOURCE_DB"] = sys.argv[1]
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from knox.models import AuthToken as KnoxToken  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework_multitoken.models import MultiToken  # noqa: E402

call_command("migrate", verbosity=0)

users = {}


def user(username, password, encoded=None, **flags):
    hashed = encoded if encoded is not None else make_password(password, hasher=flags.pop("hasher"))
    created = User.objects.create(username=username, password=hashed, email=f"{username}@example.com", **flags)
    users[username] = password
    return created


# One user per hasher Django ships, and an old PBKDF2 iteration count.
for hasher in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"]:
    user(f"user_{hasher}", f"pw {hasher} é", hasher=hasher)
user("old_pbkdf2", "old pw", PBKDF2PasswordHasher().encode("old pw", "oldsalt", iterations=20000))
unusable = user("no_password", None, make_password(None))
inactive = user("inactive", "inactive pw", hasher="pbkdf2_sha256", is_active=False)
staff = user("staff", "staff pw", hasher="pbkdf2_sha256", is_staff=True)
root = user("root", "root pw", hasher="pbkdf2_sha256", is_staff=True, is_superuser=True)

tokens = []
now = timezone.now()

drf = Token.objects.create(user=root)
tokens.append({"key": drf.key, "username": "root", "client": "drf", "live": True})
tokens.append({"key": Token.objects.create(user=inactive).key, "username": "inactive", "client": "drf", "live": False})

for age_days, username in [(30, "staff"), (10, "staff")]:
    token = MultiToken.objects.create(user=staff)
    MultiToken.objects.filter(key=token.key).update(created=now - datetime.timedelta(days=age_days))
    tokens.append({"key": token.key, "username": username, "live": True})
revoked = MultiToken.objects.create(user=staff, is_active=False)
tokens.append({"key": revoked.key, "username": "staff", "client": None, "live": False})
for number, entry in enumerate([t for t in tokens if t["username"] == "staff" and t["live"]], 1):
    entry["client"] = f"multitoken-{number}"

_, knox_old = KnoxToken.objects.create(user=root, expiry=datetime.timedelta(days=3))
_, knox_expired = KnoxToken.objects.create(user=root, expiry=datetime.timedelta(seconds=-60))
_, knox_new = KnoxToken.objects.create(user=root, expiry=None)
tokens.append({"key": knox_old, "username": "root", "client": "knox-1", "live": True})
tokens.append({"key": knox_expired, "username": "root", "client": None, "live": False})
tokens.append({"key": knox_new, "username": "root", "client": "knox-2", "live": True})

json.dump({"users": users, "tokens": tokens}, sys.stdout)
