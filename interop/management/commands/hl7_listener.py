"""``python manage.py hl7_listener --host 127.0.0.1 --port 2575``: the HL7 v2 MLLP listener for laboratory
platelet results (a long-running process; ``make run`` and docker-compose start it)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from interop.hl7.mllp import BackgroundListener


class Command(BaseCommand):
    help = "Listen for HL7 v2 results (ORU^R01, OUL^R22, batch files) over MLLP and acknowledge each (Ctrl-C stops)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (default 2575; 0 picks a free one)")
        parser.add_argument(
            "--max-connections",
            type=int,
            default=settings.IVIG_HL7_MAX_CONNECTIONS,
            help="connections served at once; more wait, then are refused with an AR (IVIG_HL7_MAX_CONNECTIONS)",
        )
        parser.add_argument(
            "--idle-timeout",
            type=float,
            default=settings.IVIG_HL7_IDLE_TIMEOUT_SECONDS,
            help="seconds before an idle connection is closed (IVIG_HL7_IDLE_TIMEOUT_SECONDS)",
        )
        parser.add_argument(
            "--message-deadline",
            type=float,
            default=settings.IVIG_HL7_MESSAGE_DEADLINE_SECONDS,
            help="seconds a message has to arrive whole from its first byte (IVIG_HL7_MESSAGE_DEADLINE_SECONDS)",
        )
        parser.add_argument(
            "--max-waiting",
            type=int,
            default=settings.IVIG_HL7_MAX_WAITING_CONNECTIONS,
            help="connections waiting for a free one; more are refused at once (IVIG_HL7_MAX_WAITING_CONNECTIONS)",
        )
        parser.add_argument(
            "--busy-wait",
            type=float,
            default=settings.IVIG_HL7_BUSY_WAIT_SECONDS,
            help="seconds a connection beyond the limit waits for a free one (IVIG_HL7_BUSY_WAIT_SECONDS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (
            options["max_connections"] < 1
            or options["idle_timeout"] <= 0
            or options["message_deadline"] <= 0
            or options["busy_wait"] < 0
            or options["max_waiting"] < 0
        ):
            self.stderr.write(
                "--max-connections must be at least 1, --idle-timeout and --message-deadline above 0, --busy-wait "
                "and --max-waiting not negative"
            )
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
            message_deadline=options["message_deadline"],
            busy_wait=options["busy_wait"],
            max_waiting=options["max_waiting"],
        ).start()
        host, port = listener.address
        self.stdout.write(
            f"HL7 MLLP listener on {host}:{port} (ORU^R01 and OUL^R22 results, batches; Ctrl-C or SIGTERM stops)"
        )
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
