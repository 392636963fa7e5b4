"""Hospital IT issues an API token to an account that cannot sign in, e.g. a laboratory interface engine:
``manage.py issue_api_token lab-interface``. The token is printed once; only its digest is kept."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core import tokens


class Command(BaseCommand):
    help = "Issue an API token to an account and print it (interface accounts get the longer lifetime)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["username"])
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No account {options['username']!r}.") from exc
        try:
            instance, secret = tokens.issue_token(user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        expiry = timezone.localtime(instance.expiry).isoformat(timespec="minutes")
        self.stderr.write(f"Token for {user.username}, valid until {expiry}:")
        self.stdout.write(secret)
