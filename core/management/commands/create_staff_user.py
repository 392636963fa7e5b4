"""Hospital IT provisions accounts: ``manage.py create_staff_user jdoe --role nurse --unit "Day Unit"``."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.models import Unit
from core.roles import Role
from core.services import set_default_units


class Command(BaseCommand):
    help = "Create a staff user with a clinical role (nurse, hematologist or pharmacist)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--unit",
            action="append",
            default=[],
            metavar="NAME",
            help="A unit the user works in (its name as in the admin); repeat for several. Without it the user's "
            "worklist and review show every unit.",
        )
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input (for scripts); otherwise it is prompted for.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username = options["username"]
        if user_model.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        units = self._units(options["unit"])
        password = self._read_password(options["password_stdin"])
        candidate = user_model(
            username=username,
            email=options["email"],
            first_name=options["first_name"],
            last_name=options["last_name"],
        )
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
        with transaction.atomic():
            candidate.set_password(password)
            candidate.is_staff = False  # the admin is for IT; clinical staff use the pages and the API
            candidate.save()
            candidate.groups.add(Group.objects.get(name=options["role"]))
            if units:
                set_default_units(user=candidate, units=units)
        where = f" in {', '.join(unit.name for unit in units)}" if units else " (no default unit: sees every unit)"
        self.stdout.write(self.style.SUCCESS(f"Created {username} with role {options['role']}{where}."))

    def _units(self, names: list[str]) -> list[Unit]:
        units = []
        for name in names:
            unit = Unit.objects.filter(name=name.strip(), active=True).first()
            if unit is None:
                known = ", ".join(Unit.objects.filter(active=True).values_list("name", flat=True)) or "none yet"
                raise CommandError(f"No open unit is named {name!r}. Open units: {known}.")
            units.append(unit)
        return units

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        else:
            raise CommandError("No terminal to prompt for a password: use --password-stdin.")
        if not password:
            raise CommandError("The password is empty.")
        return password
