"""The soak test: every process of a production-shaped run, driven for minutes at ten times a regional peak.

gunicorn (web), two Celery workers, beat and the HL7 listener on PostgreSQL and Redis, driven at once by four kinds
of work for ``--minutes`` (10 by default):

- **vitals**: bedside vital signs posted to ``POST /api/v1/infusions/{id}/vitals/`` on running infusions;
- **pages**: the nurse worklist, the hematology and pharmacy dashboards and a patient's response page, signed in;
- **HL7**: final platelet results over MLLP, each waiting for its ACK;
- **checks falling due**: courses whose 24 h platelet check falls due during the run, spread over it, so beat's
  sweep reminds the nurses and the workers mail them.

Ten times a regional network's peak, as this script assumes it (ten hospitals at their busiest hour): 0.5 vitals
posts, 2 page views and 0.5 HL7 results a second and one check falling due a minute; so by default 5 vitals/s,
20 pages/s, 5 HL7/s and 10 checks/min (``--scale`` multiplies the peak; 10 by default).

It prints throughput, p50/p95 per kind, errors (target 0), each process's memory (RSS) at the start and the end
(target: flat), the reminders (every check that fell due reminded each nurse exactly once, each reminder mailed
exactly once) and ``/metrics`` as the run ends. Run from the project folder (PostgreSQL at 127.0.0.1:5432 with user
postgres and trust auth, Redis at 127.0.0.1:6379)::

    python benchmarks/soak.py [--minutes 10] [--scale 10] [--web-workers 3]

Everything is on loopback and cleaned up afterwards (the database ``ivig_bench_soak`` is dropped, Redis db 12
flushed), also on Ctrl-C, SIGTERM or a failed step.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable for ``benchmarks.harness``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness, hl7_mllp
from benchmarks.harness import HOST, BenchError

BENCH_DB = harness.database_name("ivig_bench_soak")
NURSES = 3
RUNNING_INFUSIONS = 40
HL7_PATIENTS = 40
# Ten hospitals at their busiest hour, per second (checks: per minute). See the module's docstring.
REGIONAL_PEAK = {"vitals": 0.5, "pages": 2.0, "hl7": 0.5, "checks_per_minute": 1.0}
SWEEP_INTERVAL_S = 10


class Outbox:
    """An SMTP server on loopback (aiosmtpd) that keeps each message's recipients and subject."""

    def __init__(self) -> None:
        self.messages: list[tuple[tuple[str, ...], str, int]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's API)
        text = envelope.original_content.decode(errors="replace")
        subject = next((line for line in text.splitlines() if line.startswith("Subject:")), "")
        # A message is its recipient, subject and body (the body names the patient's course); headers such as the
        # Message-ID differ on every sending, so they would hide a duplicate.
        body = text.split("\n\n", 1)[1] if "\n\n" in text else text
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), subject, hash(body.strip())))
        return "250 Message accepted for delivery"


def bench_env(var_dir: Path, broker: str, smtp_port: int) -> dict[str, str]:
    return harness.django_env(
        database=BENCH_DB,
        broker_url=broker,
        var_dir=var_dir,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        IVIG_WEBHOOK_URL="",
        IVIG_SWEEP_INTERVAL_SECONDS=str(SWEEP_INTERVAL_S),
        EMAIL_HOST=HOST,
        EMAIL_PORT=str(smtp_port),
        PROMETHEUS_MULTIPROC_DIR=str(var_dir / "prometheus"),
        IVIG_METRICS_TOKEN="soak",
    )


# --- Seeding (through the services, in this process) -------------------------------------------------------


@dataclass
class Seeded:
    nurse_token: str
    running_infusions: list[int]
    sessions: dict[str, str]  # role -> session cookie
    patient_page: str
    hl7: hl7_mllp.Seeded
    due_orders: list[int]
    due_window: tuple[Any, Any]


def seed(minutes: float, checks_per_minute: float) -> Seeded:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from core.tokens import issue_token
    from infusions import services as infusion_services
    from tests.conftest import give_second_factor
    from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, day_vials, given_order, verified_order

    hl7_seeded = hl7_mllp.seed(HL7_PATIENTS)  # bench-haem, bench-pharm, bench-nurse and the HL7 patients
    user_model = get_user_model()
    nurse = user_model.objects.get(username="bench-nurse")
    nurse.email = "bench-nurse@ward.example"
    nurse.save()
    for n in range(1, NURSES):
        other = user_model.objects.create_user(username=f"bench-nurse{n}", email=f"bench-nurse{n}@ward.example")
        other.groups.add(Group.objects.get(name="nurse"))
    hematologist = user_model.objects.get(username="bench-haem")
    running = []
    for _ in range(RUNNING_INFUSIONS):
        infusion = verified_order(prescriber=hematologist).infusions.order_by("day_number").first()
        started_at = timezone.now() - timedelta(minutes=10)
        infusion_services.record_vitals(
            infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at - timedelta(minutes=2)
        )
        infusion_services.start_infusion(
            infusion_id=infusion.pk,
            user=nurse,
            checklist=FULL_CHECKLIST,
            vials=day_vials(infusion),
            started_at=started_at,
        )
        running.append(infusion.pk)

    # Courses whose 24 h check falls due during the run (from 30 s in to 30 s before its end).
    now = timezone.now()
    count = max(1, round(minutes * checks_per_minute))
    span = max(minutes * 60 - 60, 1)
    due_orders = []
    for k in range(count):
        falls_due_in = 30 + span * k / max(count - 1, 1)
        order = given_order(completed_hours_ago=24 - falls_due_in / 3600, prescriber=hematologist, nurse=nurse)
        due_orders.append(order.pk)

    sessions = {}
    for role, username in (("nurse", "bench-nurse"), ("hematologist", "bench-haem"), ("pharmacist", "bench-pharm")):
        client = Client()
        user = user_model.objects.get(username=username)
        client.force_login(user)
        # A finished sign-in: the roles that must use two-factor sign-in have given their code (an authenticator
        # app confirmed for them, django-otp's session key set, as the code page does).
        give_second_factor(client, user)
        sessions[role] = client.cookies["sessionid"].value
    from patients.models import Patient

    patient = Patient.objects.order_by("pk").first()
    assert patient is not None
    return Seeded(
        nurse_token=issue_token(nurse)[1],
        running_infusions=running,
        sessions=sessions,
        patient_page=f"/hematology/patients/{patient.pk}/",
        hl7=hl7_seeded,
        due_orders=due_orders,
        due_window=(now, now + timedelta(minutes=minutes)),
    )


# --- Load --------------------------------------------------------------------------------------------------


@dataclass
class Kind:
    name: str
    rate: float  # per second
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)


def http_request(port: int, method: str, path: str, headers: dict[str, str], body: str | None = None) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def paced(kind: Kind, seconds: float, stop: threading.Event, work: Any, lanes: int) -> None:
    """``lanes`` threads share a fixed schedule of ``rate`` per second (open-loop: a slow answer delays no start)."""
    interval = lanes / kind.rate

    def lane(offset: float) -> None:
        start = time.monotonic() + offset
        n = 0
        while not stop.is_set():
            at = start + n * interval
            if at - start > seconds:
                return
            delay = at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            began = time.perf_counter()
            try:
                error = work(n)
            except Exception as exc:  # a transport failure is an error to count, never the end of the run
                error = f"{exc.__class__.__name__}: {exc}"
            kind.record(time.perf_counter() - began, error)
            n += 1

    threads = [threading.Thread(target=lane, args=(i * interval / lanes,), daemon=True) for i in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


VITALS = {
    "temperature_c": "36.8",
    "heart_rate_bpm": 72,
    "systolic_bp_mmhg": 120,
    "diastolic_bp_mmhg": 75,
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
}


def drive(port: int, hl7_port: int, seeded: Seeded, kinds: dict[str, Kind], seconds: float) -> None:
    stop = threading.Event()
    token_header = {"Authorization": f"Token {seeded.nurse_token}", "Content-Type": "application/json"}
    pages = [
        ("nurse", "/nurse/"),
        ("hematologist", "/hematology/"),
        ("pharmacist", "/pharmacy/"),
        ("hematologist", seeded.patient_page),
    ]
    messages = hl7_mllp.build_messages(seeded.hl7, int(kinds["hl7"].rate * seconds) + 10)

    def vitals(n: int) -> str | None:
        infusion = seeded.running_infusions[n % len(seeded.running_infusions)]
        status = http_request(port, "POST", f"/api/v1/infusions/{infusion}/vitals/", token_header, json.dumps(VITALS))
        return None if status == 201 else f"vitals answered {status}"

    def page(n: int) -> str | None:
        role, path = pages[n % len(pages)]
        status = http_request(port, "GET", path, {"Cookie": f"sessionid={seeded.sessions[role]}"})
        return None if status == 200 else f"{path} answered {status}"

    hl7_counter = iter(range(len(messages)))
    hl7_lock = threading.Lock()

    def hl7(_: int) -> str | None:
        with hl7_lock:
            index = next(hl7_counter)
        with socket.create_connection((HOST, hl7_port), timeout=60) as sock:
            sock.sendall(b"\x0b" + messages[index].encode() + b"\x1c\r")
            buffer = b""
            while b"\x1c" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return "the listener closed the connection"
                buffer += chunk
        return None if b"MSA|AA|" in buffer else f"ACK {buffer[:120]!r}"

    work = {"vitals": (vitals, 4), "pages": (page, 8), "hl7": (hl7, 4)}
    threads = [
        threading.Thread(target=paced, args=(kinds[name], seconds, stop, fn, lanes), daemon=True)
        for name, (fn, lanes) in work.items()
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:
        stop.set()


# --- Processes and memory ----------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
        for child in children:
            grandchildren = Path(f"/proc/{child}/task/{child}/children").read_text().split()
            pids += [int(g) for g in grandchildren]
    except OSError:
        pass
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def start_beat(log_path: Path, var_dir: Path) -> subprocess.Popen[bytes]:
    command = [
        str(harness.require_executable("celery")),
        "-A",
        "ivig_tracker",
        "beat",
        "--loglevel=WARNING",
        "--schedule",
        str(var_dir / "celerybeat-schedule"),
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=harness.ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# --- Verification ------------------------------------------------------------------------------------------


def reminders(seeded: Seeded, outbox: Outbox) -> dict[str, Any]:
    from django.db.models import Count

    from monitoring.models import Delivery, Notification, PlateletCheck

    checks = PlateletCheck.objects.filter(order_id__in=seeded.due_orders, label="24h")
    fell_due = checks.exclude(status="scheduled").count()
    notes = Notification.objects.filter(platelet_check__in=checks, kind="platelet_check_due")
    per_check_and_nurse = notes.values("platelet_check", "recipient").annotate(n=Count("pk"))
    with outbox.lock:
        mails = list(outbox.messages)
    sent = Delivery.objects.filter(notification__in=notes, channel="email", status="sent").count()
    return {
        "checks_due": len(seeded.due_orders),
        "checks_fell_due": fell_due,
        "reminders": notes.count(),
        "expected_reminders": fell_due * NURSES,
        "duplicates": sum(1 for row in per_check_and_nurse if row["n"] > 1),
        "emails_sent": sent,
        # Every email the run sent (the reminders and the other notifications: results, alerts).
        "emails_sent_all": Delivery.objects.filter(channel="email", status="sent").count(),
        "emails_received": len(mails),
        "emails_received_twice": len(mails) - len(set(mails)),
        "deliveries_not_sent": Delivery.objects.filter(notification__in=notes).exclude(status="sent").count(),
    }


def scrape_metrics(port: int) -> list[str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer soak"})
    body = conn.getresponse().read().decode()
    conn.close()
    return [line for line in body.splitlines() if line.startswith("ivig_") and "_bucket" not in line]


# --- Main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.ensure_venv(__file__)
    harness.interrupt_on_sigterm()
    harness.require_postgres()
    harness.require_redis()
    var_dir = harness.make_var_dir("ivig-soak-")
    from aiosmtpd.controller import Controller  # after ensure_venv: the virtualenv has it

    (var_dir / "prometheus").mkdir()
    outbox = Outbox()
    smtp = Controller(outbox, hostname=HOST, port=harness.free_port())
    smtp.start()
    broker = harness.redis_url(12)
    env = bench_env(var_dir, broker, smtp.port)
    os.environ.update(env)
    seconds = args.minutes * 60
    rates = {name: REGIONAL_PEAK[name] * args.scale for name in ("vitals", "pages", "hl7")}
    kinds = {name: Kind(name, rate) for name, rate in rates.items()}
    processes: dict[str, subprocess.Popen[Any]] = {}
    created = False
    try:
        harness.recreate_database(BENCH_DB)
        created = True
        harness.flush_redis(broker)
        harness.migrate_in_subprocess(env)
        harness.setup_django()
        print(f"seeding ({args.minutes:g} min at {args.scale:g} x the regional peak) ...", flush=True)
        seeded = seed(args.minutes, REGIONAL_PEAK["checks_per_minute"] * args.scale)

        port = harness.free_port()
        processes["web"] = harness.start_gunicorn(env, port, args.web_workers, var_dir / "web.log")
        harness.wait_until_serving(processes["web"], port, var_dir / "web.log")
        for n in (1, 2):
            node = f"soak{n}-{os.getpid()}@{socket.gethostname()}"
            processes[f"worker{n}"] = harness.start_celery_worker(node, var_dir / f"worker{n}.log", concurrency=2)
            harness.wait_for_celery_worker(processes[f"worker{n}"], node, var_dir / f"worker{n}.log")
        processes["beat"] = start_beat(var_dir / "beat.log", var_dir)
        processes["hl7"], hl7_port = hl7_mllp.start_listener(var_dir / "hl7.log")
        time.sleep(3)
        # Memory is compared from the end of the first minute of load (every worker has imported, compiled its
        # templates and filled its connection) to the end of the run: growth after warm-up is what leaks.
        memory_start: dict[str, float] = {}
        warm = threading.Timer(
            min(60.0, seconds / 2),
            lambda: memory_start.update({name: rss_mb(process.pid) for name, process in processes.items()}),
        )
        warm.start()

        print(f"driving for {seconds:.0f} s: " + ", ".join(f"{k} {v:g}/s" for k, v in rates.items()), flush=True)
        started = time.monotonic()
        drive(port, hl7_port, seeded, kinds, seconds)
        elapsed = time.monotonic() - started
        warm.join()
        memory_end = {name: rss_mb(process.pid) for name, process in processes.items()}
        time.sleep(SWEEP_INTERVAL_S * 2)  # the last checks' reminders are mailed
        metrics = scrape_metrics(port)
        remind = reminders(seeded, outbox)
        report(kinds, elapsed, memory_start, memory_end, remind, metrics, var_dir / "web.log")
        ok = (
            all(not kind.errors for kind in kinds.values())
            and remind["duplicates"] == 0
            and remind["reminders"] == remind["expected_reminders"]
            and remind["emails_sent"] == remind["reminders"]
            and remind["emails_sent_all"] == remind["emails_received"]
            and remind["emails_received_twice"] == 0
        )
        return 0 if ok else 1
    except BenchError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        for name, process in reversed(list(processes.items())):
            if name.startswith("worker"):
                harness.stop_celery_worker(process)
            else:
                harness.stop_process(process)
        if created:
            from django.db import connections

            connections.close_all()
            harness.drop_database(BENCH_DB)
        harness.flush_redis(broker)
        smtp.stop()


def report(
    kinds: dict[str, Kind],
    elapsed: float,
    memory_start: dict[str, float],
    memory_end: dict[str, float],
    remind: dict[str, Any],
    metrics: list[str],
    web_log: Path,
) -> None:
    widths = (10, 10, 10, 10, 10, 8)
    print()
    print(harness.row(("kind", "offered/s", "done/s", "p50 ms", "p95 ms", "errors"), widths))
    for kind in kinds.values():
        print(
            harness.row(
                (
                    kind.name,
                    f"{kind.rate:g}",
                    f"{len(kind.latencies) / elapsed:.2f}",
                    f"{harness.percentile(kind.latencies, 0.5) * 1000:.1f}",
                    f"{harness.percentile(kind.latencies, 0.95) * 1000:.1f}",
                    str(len(kind.errors)),
                ),
                widths,
            )
        )
        for error in sorted(set(kind.errors))[:5]:
            print(f"    {error}")
    print()
    print(harness.row(("process", "RSS start MB", "RSS end MB", "change"), (10, 14, 12, 8)))
    for name, start in memory_start.items():
        end = memory_end.get(name, 0.0)
        print(
            harness.row((name, f"{start:.0f}", f"{end:.0f}", f"{(end - start) / start * 100:+.0f}%"), (10, 14, 12, 8))
        )
    print()
    print("reminders: " + ", ".join(f"{k} {v}" for k, v in remind.items()))
    print(f"web server errors logged: {len(harness.logged_errors(web_log))}")
    print()
    print("/metrics at the end of the run:")
    for line in metrics:
        print(f"    {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scale", type=float, default=10.0, help="multiple of the regional peak (default 10)")
    parser.add_argument("--web-workers", type=int, default=3)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
