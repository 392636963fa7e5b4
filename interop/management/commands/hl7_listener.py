"""``python manage.py hl7_listener --host 127.0.0.1 --port 2575``: the HL7 v2 MLLP listener for laboratory
platelet results (a long-running process; ``make run`` and docker-compose start it)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from interop.hl7.mllp import BackgroundListener


class Command(BaseCommand):
    help = "Listen for HL7 v2 ORU^R01 platelet results over MLLP and acknowledge each one (Ctrl-C or SIGTERM stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (default 2575; 0 picks a free one)")
        parser.add_argument(
            "--max-connections", type=int, default=16, help="connections served at once; more are refused (16)"
        )
        parser.add_argument(
            "--idle-timeout", type=float, default=300.0, help="seconds before an idle connection is closed (300)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_connections"] < 1 or options["idle_timeout"] <= 0:
            self.stderr.write("--max-connections must be at least 1 and --idle-timeout above 0")
            raise SystemExit(2)
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        listener = BackgroundListener(
            options["host"],
            options["port"],
            max_connections=options["max_connections"],
            idle_timeout=options["idle_timeout"],
        ).start()
        host, port = listener.address
        self.stdout.write(f"HL7 MLLP listener on {host}:{port} (ORU^R01 platelet results; Ctrl-C or SIGTERM stops)")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stdout.write("HL7 MLLP listener stopping: finishing the messages in hand ...")
            self.stdout.flush()
            listener.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("HL7 MLLP listener stopped.")
