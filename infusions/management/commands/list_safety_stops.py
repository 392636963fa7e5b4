"""``python manage.py list_safety_stops [--format text|csv]``: the go-live report of the v2 safety stops
(docs/clinical-rules.md §A8 "Upgrade"). Lists every open order that would meet a stop now, one line per order and
stop code; it changes nothing and exits 0 whatever it finds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from core import csv_export
from infusions.services import safety

CSV_COLUMNS = ["order", "status", "patient_mrn", "product", "checked_as", "code", "kind", "message"]


class Command(BaseCommand):
    help = (
        "List every open order (draft, verified, in progress) that would meet a safety stop now: drafts and verified "
        "orders the verification stops, running courses the start stops that do not depend on the moment of the "
        "start. One line per order and stop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["text", "csv"], default="text", help="text (default) or csv")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = safety.open_order_stops(now=timezone.now())
        if options["format"] == "csv":
            writer = csv_export.writer(self.stdout, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for row in rows:
                order = row.order
                writer.writerow(
                    [
                        order.pk,
                        order.status,
                        order.patient.mrn,
                        order.product.name,
                        str(row.stage),
                        row.stop.code,
                        str(row.stop.kind),
                        row.stop.message,
                    ]
                )
            return
        for row in rows:
            order = row.order
            self.stdout.write(
                f"order #{order.pk} ({order.status}, MRN {order.patient.mrn}, {order.product.name}) "
                f"{row.stop.code} [{row.stop.kind}, at {row.stage}]: {row.stop.message}"
            )
        self.stdout.write(
            f"{len({row.order.pk for row in rows})} open order(s) would meet a stop; {len(rows)} stop(s)."
        )
