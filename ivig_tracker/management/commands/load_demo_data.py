from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ivig_tracker import demo


class Command(BaseCommand):
    help = "Load demo users (one per role) and demo patients. Safe to run twice: a second run adds nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo.load_demo_data()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data present: {counts['users']} users, {counts['patients']} patients, {counts['units']} units."
            )
        )
        self.stdout.write("Demo logins (username / password):")
        for user in demo.DEMO_USERS:
            self.stdout.write(f"  {user.role:<13} {user.username:<14} / {user.password}")
        self.stdout.write(f"  {'admin (IT)':<13} {'admin':<14} / ivig-demo-admin")
