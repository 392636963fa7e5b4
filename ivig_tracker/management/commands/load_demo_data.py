from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from ivig_tracker import demo


class Command(BaseCommand):
    help = "Load demo users (one per role) and demo patients. Safe to run twice: a second run adds nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo.load_demo_data()
        self.stdout.write(
            self.style.SUCCESS(f"Demo data present: {counts['users']} users, {counts['patients']} patients.")
        )
        self.stdout.write("Demo logins (username / password):")
        for user in demo.DEMO_USERS:
            self.stdout.write(f"  {user.role:<13} {user.username:<14} / {user.password}")
        self.stdout.write(f"  {'admin (IT)':<13} {'admin':<14} / ivig-demo-admin")
        if settings.IVIG_TWO_FACTOR != "off":
            roles = ", ".join(sorted(settings.IVIG_TWO_FACTOR_REQUIRED_ROLES))
            self.stdout.write(
                f"Two-factor sign-in is required of: {roles}. At their first sign-in these logins set up an "
                "authenticator app (README: Two-factor sign-in in the demo)."
            )
