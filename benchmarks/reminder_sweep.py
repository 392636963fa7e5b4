"""Reminder sweep at scale: many platelet checks falling due at once, one Celery worker, a local SMTP server.

Seconds from the sweep's start until every in-app notification exists and every email is
accepted by the local SMTP server, notifications per second, and a duplicate count that must be 0.

Run from the project folder (PostgreSQL at 127.0.0.1:5432 with user postgres and trust auth, Redis at
127.0.0.1:6379; the script re-runs itself under ``.venv/bin/python`` when started with another interpreter)::

    python benchmarks/reminder_sweep.py [--checks 10000] [--nurses 1] [--timeout 900] [--probe 200]

What it does, all on loopback and self-cleaning (also on Ctrl-C, SIGTERM or a failed step):

1. starts an aiosmtpd server in this process on a free loopback port that records every accepted message;
2. flushes Redis database 10, drops and re-creates the PostgreSQL database ``ivig_bench_sweep`` and migrates it;
3. seeds, in this process: ``--nurses`` nurses with an email address (a due reminder goes to every nurse, so
   notifications = checks x nurses), a hematologist and a pharmacist, up to 20 patients each with one order made
   and verified through the real services, the remaining orders as bulk copies of those orders' frozen working,
   and the checks (4 per order) by bulk_create, all due 10 minutes ago and still ``scheduled``;
4. starts ONE Celery worker subprocess (``--concurrency=1``) with the same environment and waits for its pong;
5. runs ``monitoring.services.run_sweep()`` in this process (the same call as ``manage.py send_due_reminders``
   and the beat task) and times it; then waits, bounded by ``--timeout``, until no delivery is outstanding;
6. prints the figures, the duplicate counts and what a second sweep creates (must be 0); then, after the
   measurement, where an email's time goes (``send_mail`` with a new connection, one reused connection,
   ``deliver()`` without and with sending, all without Celery) and the queries and SQL time of one sweep batch;
7. stops the worker and the SMTP server, drops the database and flushes Redis database 10.

Exit status: 0 when every email was accepted, 1 when the timeout passed first (the figures so far are printed),
2 when a setup step failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable for ``benchmarks.harness``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import HOST, BenchError

BENCH_DB = harness.database_name("ivig_bench_sweep")
REDIS_URL = harness.redis_url(10)  # a database of its own, flushed before and after
MAX_PATIENTS = 20  # orders are spread over this many patients (made through the services)
CHECKS_PER_ORDER = 4  # 24 h, 48 h, 72 h, 7 d (docs/clinical-rules.md §A6)
NURSE_DOMAIN = "ivig-bench.test"
POLL_INTERVAL_S = 0.25
PROGRESS_EVERY_S = 15.0
QUERY_BATCH_SIZES = (10, 200)  # two batch sizes: the sweep claims a fixed number of queries per batch


# --- The local SMTP server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    at: float  # time.perf_counter() when the DATA was accepted; the same clock as the sweep's start
    recipients: tuple[str, ...]
    content: bytes


@dataclass
class SmtpSink:
    """aiosmtpd handler: accepts everything and records it. Parsing waits until the report, so the server does
    as little as possible per message (it shares this process's GIL with the sweep)."""

    accepted: list[Accepted] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # the name aiosmtpd calls
        content = envelope.original_content or envelope.content
        self.accepted.append(Accepted(time.perf_counter(), tuple(envelope.rcpt_tos), bytes(content)))
        return "250 Message accepted for delivery"


def start_smtp(sink: SmtpSink) -> Any:
    from aiosmtpd.controller import Controller

    # server_hostname: otherwise every connection's banner calls socket.getfqdn(), a DNS lookup per message.
    controller = Controller(sink, hostname=HOST, port=harness.free_port(), server_hostname="bench-smtp.localhost")
    controller.start()
    return controller


def email_key(record: Accepted) -> tuple[tuple[str, ...], str, str]:
    """(recipients, subject, body): every reminder names its check and order, so two equal keys are the same
    notification emailed twice. Date and Message-ID headers differ per send and are left out on purpose."""
    message = message_from_bytes(record.content)
    payload = message.get_payload(decode=True)
    if isinstance(payload, bytes):
        body = payload.decode(message.get_content_charset() or "utf-8", errors="replace")
    else:
        body = str(message.get_payload())
    return record.recipients, str(message.get("Subject", "")), body.strip()


# --- Environment, database, broker, worker ------------------------------------------------------------------


def bench_env(var_dir: Path, smtp_port: int) -> dict[str, str]:
    return harness.django_env(
        database=BENCH_DB,
        broker_url=REDIS_URL,
        var_dir=var_dir,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=HOST,
        EMAIL_PORT=str(smtp_port),
        EMAIL_USE_TLS="false",
        EMAIL_USE_SSL="false",
        IVIG_EMAIL_NOTIFICATIONS="true",
        IVIG_WEBHOOK_URL="",  # email is the only external channel: one delivery per notification
    )


# --- Seeding ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    checks: int
    orders: int
    patients: int
    nurses: int
    extra_check_ids: list[int]  # not due during the measurement; used afterwards to count one batch's queries


def seed(checks: int, nurses: int, extra_checks: int) -> Seeded:
    from datetime import date, timedelta
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from infusions import services as infusion_services
    from infusions.models import Order, Product
    from monitoring.models import CheckLabel, PlateletCheck
    from patients import services as patient_services

    user_model = get_user_model()

    def staff(username: str, role: str, email: str = "") -> Any:
        # No password: an unusable one skips PBKDF2; nobody signs in during this benchmark.
        user = user_model.objects.create_user(username=username, email=email, first_name="Bench", last_name=username)
        user.groups.add(Group.objects.get(name=role))
        return user

    # The hematologist has no email: due reminders reach nurses only (overdue ones add the prescriber, but
    # every check here is due 10 minutes ago, well inside the 12 hours before "overdue").
    hematologist = staff("bench-haem", "hematologist")
    pharmacist = staff("bench-pharm", "pharmacist")
    for n in range(nurses):
        staff(f"bench-nurse{n}", "nurse", f"bench-nurse{n}@{NURSE_DOMAIN}")

    main_orders = math.ceil(checks / CHECKS_PER_ORDER)
    extra_orders = math.ceil(extra_checks / CHECKS_PER_ORDER)
    total_orders = main_orders + extra_orders
    patients = min(MAX_PATIENTS, total_orders)
    product = Product.objects.get(name="Gamunex-C")
    now = timezone.now()
    templates = []
    for n in range(patients):
        patient = patient_services.create_patient(
            data={
                "mrn": f"SWEEP{n:05d}",
                "given_name": "Bench",
                "family_name": f"Patient{n}",
                "birth_date": date(1980, 1, 1),
                "sex": "male",
                "height_cm": Decimal("178"),
                "serum_iga_mg_dl": Decimal("150"),
                "iga_measured_on": timezone.localdate() - timedelta(days=10),
            },
            user=hematologist,
            weight_kg=Decimal("82"),
            weight_measured_at=now - timedelta(days=1),
        )
        harness.record_pre_course_labs(patient.pk, hematologist, now - timedelta(days=30))
        order = infusion_services.create_order(
            data={
                "patient": patient,
                "regimen": "one_dose_1g_per_kg",
                "product": product,
                "baseline_platelet_count": 12,
                "first_infusion_on": timezone.localdate(),
            },
            user=hematologist,
        )
        templates.append(infusion_services.verify_order(order_id=order.pk, user=pharmacist))

    # The other orders copy a real order's frozen working (same patient, weight measurement, dose): thousands of
    # full dose calculations would only slow the seeding down, and the sweep reads none of the working.
    copied = [f.attname for f in Order._meta.concrete_fields if not f.primary_key]
    copies = [
        Order(**{name: getattr(templates[k % patients], name) for name in copied})
        for k in range(patients, total_orders)
    ]
    labels = list(CheckLabel)
    with transaction.atomic():
        Order.objects.bulk_create(copies, batch_size=500)  # PostgreSQL returns the new primary keys
        orders = templates + copies
        due_at = now - timedelta(minutes=10)
        later = now + timedelta(days=30)  # the extra checks stay out of both sweeps
        rows = [
            PlateletCheck(order=orders[k // CHECKS_PER_ORDER], label=labels[k % CHECKS_PER_ORDER], due_at=due_at)
            for k in range(checks)
        ]
        extra = [
            PlateletCheck(
                order=orders[main_orders + k // CHECKS_PER_ORDER], label=labels[k % CHECKS_PER_ORDER], due_at=later
            )
            for k in range(extra_checks)
        ]
        PlateletCheck.objects.bulk_create(rows + extra, batch_size=2000)
    return Seeded(
        checks=checks,
        orders=main_orders,
        patients=patients,
        nurses=nurses,
        extra_check_ids=[check.pk for check in extra],
    )


# --- Measurement --------------------------------------------------------------------------------------------


@dataclass
class Figures:
    sweep: Any  # monitoring.services.SweepResult
    started: float  # time.perf_counter() when run_sweep() was called
    sweep_seconds: float  # run_sweep() returned: every notification row exists and is committed
    last_row_seconds: float  # created_at of the last notification row, from the sweep's start
    emails_expected: int
    accepted: list[Accepted]
    emails_seconds: float | None  # the last accepted message, from the sweep's start; None when incomplete
    timed_out: bool
    delivery_status: dict[str, int]
    retried_deliveries: int


def outstanding_deliveries() -> int:
    from monitoring.models import Delivery

    return Delivery.objects.filter(
        status__in=[Delivery.Status.PENDING, Delivery.Status.CLAIMED, Delivery.Status.SENDING]
    ).count()


def measure(sink: SmtpSink, worker: subprocess.Popen[bytes], log_path: Path, timeout: float) -> Figures:
    from django.db.models import Count, Max

    from monitoring import services
    from monitoring.models import Delivery, Notification

    already = len(sink.accepted)
    wall0 = time.time()
    t0 = time.perf_counter()
    result = services.run_sweep()
    sweep_seconds = time.perf_counter() - t0
    print(
        f"  sweep returned after {sweep_seconds:.2f} s: {result.notifications} notifications in {result.batches} "
        f"batches; {len(sink.accepted) - already} emails already accepted",
        flush=True,
    )
    last_created = Notification.objects.aggregate(last=Max("created_at"))["last"]
    last_row_seconds = last_created.timestamp() - wall0 if last_created else float("nan")
    emails_expected = Delivery.objects.filter(channel="email").count()

    # Every delivery was created (and claimed and enqueued) before run_sweep() returned, so "none outstanding"
    # means each one is sent, skipped or failed for good; a sent one was accepted by the SMTP server before
    # the worker marked it. A retry waiting for its backoff stays "claimed" and keeps the loop waiting.
    deadline = t0 + timeout
    next_progress = time.perf_counter() + PROGRESS_EVERY_S
    timed_out = False
    while outstanding_deliveries():
        if worker.poll() is not None:
            raise BenchError(f"the Celery worker exited with {worker.returncode}:\n{harness.tail(log_path)}")
        now = time.perf_counter()
        if now >= deadline:
            timed_out = True
            break
        if now >= next_progress:
            done = len(sink.accepted) - already
            print(f"  {now - t0:6.1f} s: {done}/{emails_expected} emails accepted", flush=True)
            next_progress = now + PROGRESS_EVERY_S
        time.sleep(POLL_INTERVAL_S)
    accepted = sink.accepted[already:]
    complete = not timed_out and len(accepted) >= emails_expected
    statuses = {row["status"]: row["n"] for row in Delivery.objects.values("status").annotate(n=Count("id"))}
    return Figures(
        sweep=result,
        started=t0,
        sweep_seconds=sweep_seconds,
        last_row_seconds=last_row_seconds,
        emails_expected=emails_expected,
        accepted=accepted,
        emails_seconds=(accepted[-1].at - t0) if complete and accepted else None,
        timed_out=timed_out,
        delivery_status=statuses,
        retried_deliveries=Delivery.objects.filter(attempts__gt=1).count(),
    )


def duplicate_notifications() -> tuple[int, int, int]:
    """Extra rows per dedupe key (the unique constraint makes it 0), extra rows per (recipient, check, kind),
    and the number of distinct (recipient, check, kind)."""
    from django.db.models import Count

    from monitoring.models import Notification

    def extra(*fields: str) -> tuple[int, int]:
        groups = list(Notification.objects.values(*fields).annotate(n=Count("id")).values_list("n", flat=True))
        return sum(n - 1 for n in groups if n > 1), len(groups)

    by_key, _ = extra("dedupe_key")
    by_target, distinct = extra("recipient", "platelet_check", "kind")
    return by_key, by_target, distinct


def duplicate_emails(accepted: list[Accepted]) -> int:
    counts = Counter(email_key(record) for record in accepted)
    return sum(n - 1 for n in counts.values() if n > 1)


def second_sweep(sink: SmtpSink) -> tuple[Any, int]:
    """A sweep after everything was sent must create nothing; wait a moment for any stray email."""
    from monitoring import services

    before = len(sink.accepted)
    result = services.run_sweep()
    time.sleep(2.0)
    return result, len(sink.accepted) - before


@dataclass(frozen=True)
class BatchCost:
    size: int
    created: int
    queries: int
    seconds: float  # wall time of the whole call, its after-commit enqueue included
    sql_seconds: float  # the part spent in SQL, as Django's query log times it


def queries_per_batch(check_ids: list[int]) -> list[BatchCost]:
    """One remind_batch (its after-commit enqueue included) for two batch sizes: the queries, and how much of
    its time is SQL; the rest is Python and one Celery publish per delivery. Runs after the measurement, on
    checks kept out of it, so the timing above is not disturbed (the query log itself costs a little)."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from monitoring import services
    from monitoring.models import CheckStatus, PlateletCheck

    now = timezone.now()
    PlateletCheck.objects.filter(pk__in=check_ids).update(status=CheckStatus.DUE, due_at=now - timedelta(minutes=5))
    nurses = services.users_with_role("nurse")
    costs = []
    for size in QUERY_BATCH_SIZES:
        # Autocommit outside the context: the batch's atomic block commits inside it, so the after-commit
        # enqueue_pending_deliveries is counted too.
        with override_settings(IVIG_SWEEP_BATCH_SIZE=size), CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            created, _ = services.remind_batch(now, nurses)
            seconds = time.perf_counter() - began
        sql = sum(float(query["time"]) for query in captured.captured_queries)
        costs.append(BatchCost(size, created, len(captured.captured_queries), seconds, sql))
    return costs


# --- Email probe: where an email's time goes -----------------------------------------------------------------


class _NullChannel:
    """Stands in for the email channel in the probe process only, to time deliver()'s own queries."""

    name = "email"

    def wants(self, notification: Any) -> bool:
        return True

    def send(self, notification: Any) -> None:
        return None


def email_probe(count: int) -> None:
    """Runs in a subprocess (apart from the SMTP server's process, as the worker is) with EMAIL_PORT pointing at
    a probe server, after the measurement, while the worker is idle. Times, per message:

    - Django's send_mail, a new SMTP connection each (what EmailChannel does);
    - the same messages over one reused connection;
    - monitoring.services.deliver() with the email channel stubbed out (its claim, read and mark queries);
    - deliver() in full, without Celery (on already-sent deliveries put back to "claimed").

    Prints milliseconds per message as JSON."""
    harness.setup_django()
    from django.conf import settings
    from django.core.mail import EmailMessage, get_connection, send_mail

    from monitoring import channels, services
    from monitoring.models import Delivery

    recipient = [f"probe@{NURSE_DOMAIN}"]
    subject = "[IVIG Tracker] Platelet check due"
    body = "The 24 h platelet count for PATIENT0, Bench (SWEEP00000) (order #{n}) is due ({mode})."
    # Warm-up, not timed: the first connection looks up this host's FQDN once (Django caches it per process).
    send_mail(subject, "warm-up", settings.DEFAULT_FROM_EMAIL, recipient, fail_silently=False)
    figures: dict[str, float] = {}
    began = time.perf_counter()
    for n in range(count):
        send_mail(subject, body.format(n=n, mode="new"), settings.DEFAULT_FROM_EMAIL, recipient, fail_silently=False)
    figures["send_mail_ms"] = (time.perf_counter() - began) / count * 1000
    began = time.perf_counter()
    messages = [
        EmailMessage(subject, body.format(n=n, mode="reused"), settings.DEFAULT_FROM_EMAIL, recipient)
        for n in range(count)
    ]
    with get_connection(fail_silently=False) as connection:
        connection.send_messages(messages)
    figures["reused_connection_ms"] = (time.perf_counter() - began) / count * 1000

    ids = list(Delivery.objects.filter(status=Delivery.Status.SENT).order_by("pk").values_list("pk", flat=True)[:count])
    real = channels.CHANNELS["email"]
    for key, channel in (("deliver_queries_ms", _NullChannel()), ("deliver_full_ms", real)):
        Delivery.objects.filter(pk__in=ids).update(status=Delivery.Status.CLAIMED)
        channels.CHANNELS["email"] = channel  # the same dict object services.deliver() looks up
        began = time.perf_counter()
        for delivery_id in ids:
            services.deliver(delivery_id)
        figures[key] = (time.perf_counter() - began) / max(len(ids), 1) * 1000
    channels.CHANNELS["email"] = real
    print(json.dumps(figures))


def run_probe(count: int) -> dict[str, float]:
    sink = SmtpSink()
    controller = start_smtp(sink)
    try:
        env = {**os.environ, "EMAIL_PORT": str(controller.port)}
        call = f"from benchmarks.reminder_sweep import email_probe; email_probe({count})"
        out = harness.run([str(harness.VENV_BIN / "python"), "-c", call], env, "email probe", timeout=600)
    finally:
        controller.stop()
    figures: dict[str, float] = json.loads(out.splitlines()[-1])
    return figures


# --- Report -------------------------------------------------------------------------------------------------


def rate(count: float, seconds: float | None) -> str:
    return f"{count / seconds:.1f}" if seconds else "n/a"


def report(seeded: Seeded, figures: Figures, batch_size: int) -> None:
    sweep = figures.sweep
    accepted = figures.accepted
    expected_notifications = seeded.checks * seeded.nurses
    print()
    print(f"checks falling due at once:         {seeded.checks} ({seeded.orders} orders, {seeded.patients} patients)")
    print(f"nurses (each gets every reminder):  {seeded.nurses}")
    print(f"notifications created:              {sweep.notifications} (expected {expected_notifications})")
    print(f"emails accepted by SMTP:            {len(accepted)} (deliveries: {figures.emails_expected})")
    print(
        f"seconds to all notifications:       {figures.sweep_seconds:.2f} (run_sweep returned; the last row's "
        f"created_at is {figures.last_row_seconds:.2f} s after the start)"
    )
    if figures.emails_seconds is not None:
        print(f"seconds to all emails accepted:     {figures.emails_seconds:.2f}")
    else:
        reason = "TIMED OUT" if figures.timed_out else "some deliveries were not sent"
        print(f"seconds to all emails accepted:     n/a ({reason})")
    print(f"notifications/s:                    {rate(sweep.notifications, figures.sweep_seconds)}")
    print(f"emails/s (from the sweep's start):  {rate(len(accepted), figures.emails_seconds)}")
    if len(accepted) > 1:
        # The worker's own pace, without the wait for the first batch to commit.
        span = accepted[-1].at - accepted[0].at
        during = sum(1 for record in accepted if record.at - figures.started <= figures.sweep_seconds)
        print(
            f"emails/s (first to last accepted):  {rate(len(accepted) - 1, span)} (first accepted "
            f"{accepted[0].at - figures.started:.2f} s after the start; {during} accepted while the sweep ran)"
        )
    print(
        f"sweep: {sweep.due} checks made due, {sweep.batches} batches of up to {batch_size}, "
        f"{sweep.enqueued} deliveries enqueued by its final pass (each batch enqueues its own after commit)"
    )
    statuses = ", ".join(f"{name} {n}" for name, n in sorted(figures.delivery_status.items()))
    print(f"deliveries: {statuses}; attempted more than once: {figures.retried_deliveries}")


def print_probe(count: int, probe: dict[str, float], figures: Figures) -> None:
    print(
        f"email probe ({count} messages per line, one process, no Celery):\n"
        f"  send_mail, a new SMTP connection each:      {probe['send_mail_ms']:.2f} ms/message\n"
        f"  the same over one reused SMTP connection:   {probe['reused_connection_ms']:.2f} ms/message\n"
        f"  deliver() with the email channel stubbed:   {probe['deliver_queries_ms']:.2f} ms (its 3 queries)\n"
        f"  deliver() in full:                          {probe['deliver_full_ms']:.2f} ms"
    )
    accepted = figures.accepted
    if len(accepted) > 1:
        worker = (accepted[-1].at - accepted[0].at) / (len(accepted) - 1) * 1000
        print(
            f"  the worker, first to last accepted email:   {worker:.2f} ms/email; less deliver() in full leaves "
            f"{worker - probe['deliver_full_ms']:.2f} ms for Celery (fetch, hand to the pool child, ack)"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.interrupt_on_sigterm()
    harness.require_postgres()
    harness.require_redis()
    var_dir = harness.make_var_dir("ivig-bench-sweep-")
    log_path = var_dir / "worker.log"
    sink = SmtpSink()
    controller = start_smtp(sink)
    os.environ.update(bench_env(var_dir, controller.port))
    node = f"bench-sweep-{os.getpid()}@{socket.gethostname()}"
    worker: subprocess.Popen[bytes] | None = None
    database_created = False
    try:
        print(f"SMTP server on {HOST}:{controller.port}; Redis db {redis_db()} flushed", flush=True)
        harness.flush_redis(REDIS_URL)
        harness.recreate_database(BENCH_DB)
        database_created = True
        harness.setup_django()
        from django.conf import settings

        harness.migrate_in_process()
        extra_checks = sum(QUERY_BATCH_SIZES)
        print(f"seeding {args.checks} checks and {args.nurses} nurse(s) ...", flush=True)
        seeded = seed(args.checks, args.nurses, extra_checks)
        print(f"Celery worker {node}: starting (concurrency 1) ...", flush=True)
        worker = harness.start_celery_worker(node, log_path)
        harness.wait_for_celery_worker(worker, node, log_path)
        print(f"sweep: run_sweep() in this process; load average before {harness.load_average()}", flush=True)
        figures = measure(sink, worker, log_path, args.timeout)
        report(seeded, figures, settings.IVIG_SWEEP_BATCH_SIZE)
        by_key, by_target, distinct = duplicate_notifications()
        print(f"duplicate notifications by dedupe_key:              {by_key}")
        print(
            f"duplicate notifications by (recipient, check, kind): {by_target} "
            f"(missing: {seeded.checks * seeded.nurses - distinct})"
        )
        print(f"duplicate emails (same recipient, subject, body):   {duplicate_emails(figures.accepted)}")

        if figures.emails_seconds is None:
            # The worker is still sending: a second sweep "after everything is sent" and the probes below would
            # compete with it and mean nothing.
            print("incomplete: the second sweep, the email probe and the batch costs are skipped")
            return 1
        second, stray = second_sweep(sink)
        print(
            f"second sweep: {second.notifications} notifications created, {second.enqueued} deliveries enqueued, "
            f"{stray} emails accepted afterwards"
        )
        if args.probe:
            print_probe(args.probe, run_probe(args.probe), figures)
        for cost in queries_per_batch(seeded.extra_check_ids):
            print(
                f"one remind_batch of {cost.size} checks ({cost.created} notifications): {cost.queries} queries, "
                f"{cost.seconds * 1000:.0f} ms, of which {cost.sql_seconds * 1000:.0f} ms SQL (the rest: Python "
                "and one Celery publish per delivery)"
            )
        print(f"load average after: {harness.load_average()}")
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        cleanup(worker, controller, database_created, var_dir)


def redis_db() -> str:
    return REDIS_URL.rsplit("/", 1)[1]


def cleanup(worker: subprocess.Popen[bytes] | None, controller: Any, database_created: bool, var_dir: Path) -> None:
    if worker is not None:
        harness.stop_celery_worker(worker)
    controller.stop()
    if database_created:
        harness.drop_database(BENCH_DB)
    try:
        harness.flush_redis(REDIS_URL)
    except Exception as exc:  # noqa: BLE001  # cleanup reports and carries on
        print(f"could not flush Redis db {redis_db()}: {exc}", file=sys.stderr)
    shutil.rmtree(var_dir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000, help="checks falling due at once (default 10000)")
    parser.add_argument("--nurses", type=int, default=1, help="nurses; each is reminded of every check (default 1)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the emails (default 900)")
    parser.add_argument(
        "--probe", type=int, default=200, help="messages per mode in the SMTP probe; 0 skips it (default 200)"
    )
    args = parser.parse_args(argv)
    if args.checks < 1 or args.nurses < 1 or args.timeout <= 0 or args.probe < 0:
        parser.error("--checks and --nurses must be at least 1, --timeout above 0, --probe 0 or more")
    if args.checks > 1_000_000 or args.nurses > 100 or args.timeout > 7200:
        parser.error("keep it bounded: --checks at most 1000000, --nurses at most 100, --timeout at most 7200")
    return args


if __name__ == "__main__":
    harness.ensure_venv(__file__)
    sys.exit(main())
