from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ivig_tracker import demo


class Command(BaseCommand):
    help = (
        "Load demo users (one per role, and an admin) and demo patients, for development: refused when DEBUG is off "
        "unless --force. Safe to run twice: a second run adds nothing and changes no password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load the demo although DEBUG is off (a training server). Each new user then gets a random "
            "password, printed once here; the published demo passwords are never used.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's passwords are in the README: an instance with DEBUG off may face a network, and an admin
        # whose password anyone can read is a way in to every patient's record.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Demo data is for development and DEBUG is off here: nothing was loaded. Run it with "
                "DJANGO_DEBUG=true (make run does), or add --force to load it on purpose with random passwords."
            )
        published = settings.DEBUG
        counts, passwords = demo.load_demo_data(demo.published_password if published else demo.random_password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data present: {counts['users']} users, {counts['patients']} patients, {counts['units']} units."
            )
        )
        if settings.IVIG_TWO_FACTOR != "off":
            roles = ", ".join(sorted(settings.IVIG_TWO_FACTOR_REQUIRED_ROLES))
            self.stdout.write(
                f"Two-factor sign-in is required of: {roles}. At their first sign-in these logins set up an "
                "authenticator app (README: Two-factor sign-in in the demo)."
            )
        if published:
            self.stdout.write("Demo logins (username / password):")
            for user in demo.DEMO_USERS:
                self.stdout.write(f"  {user.role:<13} {user.username:<14} / {user.password}")
            self.stdout.write(f"  {'admin (IT)':<13} {demo.ADMIN_USERNAME:<14} / {demo.ADMIN_PASSWORD}")
            return
        if not passwords:
            self.stdout.write("The demo users existed already: their passwords are unchanged.")
            return
        self.stdout.write(
            self.style.WARNING("Passwords of the users created now, shown this once (store them or reset them):")
        )
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<14} / {password}")
