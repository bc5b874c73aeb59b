"""Seeds the Django peers: `python -m django_peer.seed USERS PASSWORD DIR`
(with DJANGO_SETTINGS_MODULE=django_peer.settings and PEER_DATABASE set).

Users through the ORM's bulk_create, every one with the same password hash
made once by Django's default hasher (PBKDF2; a million rounds each would
take minutes); one DRF token per user (DRF allows no more), three knox
tokens per user through knox's own AuthToken.objects.create. Writes
DIR/drf_keys.tsv and DIR/knox_keys.tsv as "key<TAB>username" lines."""
import os
import sys

import django

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from knox.models import AuthToken  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

KNOX_KEYS_PER_USER = 3


def main(users, password, out):
    call_command("migrate", verbosity=0)
    hashed = make_password(password)
    names = [f"user{i:06d}" for i in range(1, users + 1)]
    with transaction.atomic():
        User.objects.bulk_create(
            User(username=name, email=f"{name}@example.com", password=hashed) for name in names
        )
        people = list(User.objects.filter(username__in=names).order_by("username"))
        drf = Token.objects.bulk_create(Token(user=user, key=Token.generate_key()) for user in people)
        knox = [
            (AuthToken.objects.create(user=user)[1], user.username)
            for user in people
            for _ in range(KNOX_KEYS_PER_USER)
        ]
    with open(os.path.join(out, "drf_keys.tsv"), "w") as keys:
        keys.writelines(f"{token.key}\t{token.user.username}\n" for token in drf)
    with open(os.path.join(out, "knox_keys.tsv"), "w") as keys:
        keys.writelines(f"{key}\t{name}\n" for key, name in knox)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
