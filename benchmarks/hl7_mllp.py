"""HL7 v2 over MLLP: messages per second from send to a stored, classified result, with one listener.

How many ORU^R01 platelet results one ``manage.py hl7_listener`` takes per second, each sent over TCP
with MLLP framing and acknowledged only after its result is committed (stored, matched to a check or the active
order, classified and the order's response re-assessed), with the p50/p95 ACK latency and the errors.

Run from the project folder (PostgreSQL at 127.0.0.1:5432 with user postgres and trust auth; the script re-runs
itself under ``.venv/bin/python`` when started with another interpreter)::

    python benchmarks/hl7_mllp.py [--messages 2000] [--connections 1] [--patients 100] [--resend 200]

What it does, all on loopback and self-cleaning (also on Ctrl-C, SIGTERM or a failed step):

1. drops and re-creates the PostgreSQL database ``ivig_bench_hl7`` and migrates it;
2. seeds through the project's services: a hematologist, a pharmacist, a nurse and ``--patients`` patients, each
   with a verified order whose first infusion was started and completed 200 hours ago (so its four checks fell
   due in the past);
3. starts ``manage.py hl7_listener --host 127.0.0.1 --port 0`` as a subprocess (the port it prints is used);
4. sends ``--messages`` distinct final results (LOINC 777-3, 10*9/L) round-robin over the patients: a patient's
   first four close its 24 h, 48 h, 72 h and 7 d checks, the rest are ad hoc results of its order. They go over
   ``--connections`` TCP connections, each sending one message and waiting for its ACK before the next;
5. verifies the stored results (one per message, all from HL7, every check closed) and prints msgs/s, the
   p50/p95/max ACK latency and the errors (any ACK other than AA, or a transport error);
6. resends the first ``--resend`` messages: each must get the same ACK bytes and add no result (idempotency);
7. stops the listener with SIGTERM and drops the database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable for ``benchmarks.harness``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import HOST, BenchError

BENCH_DB = harness.database_name("ivig_bench_hl7")
COMPLETED_HOURS_AGO = 200
CHECK_HOURS = (24, 48, 72, 168)  # docs/clinical-rules.md §A6
AD_HOC_FROM_HOURS = 100  # after the 72 h check, before the 7 d one: more than 12 h from both
LISTENER_READY_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 60.0


def bench_env(var_dir: Path) -> dict[str, str]:
    return harness.django_env(
        database=BENCH_DB,
        # Nothing here needs Redis: the seeded users have no email, so no delivery is ever enqueued.
        broker_url="filesystem://",
        var_dir=var_dir,
        IVIG_WEBHOOK_URL="",
        HOSPITAL_TIME_ZONE="UTC",
    )


# --- Seeding -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    mrns: list[str]
    completed_at: datetime  # every order's first infusion completed then


def seed(patients: int) -> Seeded:
    from datetime import date
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from infusions import services as infusion_services
    from infusions.models import Product
    from infusions.services.vials import planned_vials
    from patients import services as patient_services

    user_model = get_user_model()

    def staff(username: str, role: str) -> Any:
        user = user_model.objects.create_user(username=username, first_name="Bench", last_name=username)
        user.groups.add(Group.objects.get(name=role))
        return user

    hematologist, pharmacist, nurse = (
        staff("bench-haem", "hematologist"),
        staff("bench-pharm", "pharmacist"),
        staff("bench-nurse", "nurse"),
    )
    product = Product.objects.get(name="Gamunex-C")
    now = timezone.now()
    completed_at = now - timedelta(hours=COMPLETED_HOURS_AGO)
    checklist = dict.fromkeys(
        (
            "patient_identity",
            "iga_reviewed",
            "cardiac_fluid_status",
            "hydration",
            "premedication",
            "emergency_drugs",
            "product_and_dose",
            "dedicated_line",
        ),
        True,
    )
    vitals = {
        "temperature_c": "36.8",
        "heart_rate_bpm": 72,
        "systolic_bp_mmhg": 120,
        "diastolic_bp_mmhg": 75,
        "respiratory_rate_per_min": 16,
        "spo2_percent": 98,
    }
    mrns = []
    for n in range(patients):
        mrn = f"HL7B{n:05d}"
        patient = patient_services.create_patient(
            data={
                "mrn": mrn,
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
        harness.record_pre_course_labs(patient.pk, hematologist, now - timedelta(hours=COMPLETED_HOURS_AGO + 24))
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
        order = infusion_services.verify_order(order_id=order.pk, user=pharmacist)
        infusion = order.infusions.order_by("day_number").first()
        started_at = completed_at - timedelta(hours=2)
        infusion_services.record_vitals(infusion_id=infusion.pk, user=nurse, values=vitals, taken_at=started_at)
        infusion_services.start_infusion(
            infusion_id=infusion.pk,
            user=nurse,
            checklist=checklist,
            vials=planned_vials(infusion, lot_number="B1", expiry_date=started_at.date() + timedelta(days=365)),
            started_at=started_at,
        )
        infusion_services.complete_infusion(infusion_id=infusion.pk, user=nurse, completed_at=completed_at)
        mrns.append(mrn)
    return Seeded(mrns=mrns, completed_at=completed_at)


def build_messages(seeded: Seeded, count: int) -> list[str]:
    """Distinct final results, round-robin over the patients; counts vary so responses differ."""
    messages = []
    per_patient = [0] * len(seeded.mrns)
    for k in range(count):
        p = k % len(seeded.mrns)
        nth = per_patient[p]
        per_patient[p] += 1
        if nth < len(CHECK_HOURS):
            collected = seeded.completed_at + timedelta(hours=CHECK_HOURS[nth])
        else:
            # One second apart: even 200000 messages for one patient stay between 100 h and 156 h, more than
            # 12 h from the 72 h and 7 d checks' due times.
            collected = seeded.completed_at + timedelta(hours=AD_HOC_FROM_HOURS, seconds=nth)
        value = 10 + (k * 37) % 160  # 10-169 x10^9/L: no response, response and complete response
        ts = collected.strftime("%Y%m%d%H%M%S+0000")
        segments = [
            f"MSH|^~\\&|BENCH_LAB|LAB|IVIG_TRACKER|HOSP|{ts}||ORU^R01^ORU_R01|BENCH{k:07d}|P|2.5.1",
            f"PID|1||{seeded.mrns[p]}^^^HOSP^MR||PATIENT^BENCH",
            f"OBR|1||SPEC{k:07d}^BENCH_LAB|57021-8^CBC panel^LN|||{ts}",
            f"OBX|1|NM|777-3^Platelets [#/volume] in Blood^LN||{value}|10*9/L^^UCUM|150-400||||F|||{ts}",
        ]
        messages.append("\r".join(segments) + "\r")
    return messages


# --- The listener ------------------------------------------------------------------------------------------


def start_listener(log_path: Path) -> tuple[subprocess.Popen[str], int]:
    command = [str(harness.VENV_BIN / "python"), "manage.py", "hl7_listener", "--host", HOST, "--port", "0"]
    process = subprocess.Popen(
        command,
        cwd=harness.ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=open(log_path, "w"),  # noqa: SIM115 - closed with the process
        text=True,
        start_new_session=True,
    )
    found: dict[str, str] = {}

    def read_first_line() -> None:
        assert process.stdout is not None
        found["line"] = process.stdout.readline()

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(LISTENER_READY_TIMEOUT_S)
    line = found.get("line", "")
    if f"listener on {HOST}:" not in line:
        stop_listener(process)
        raise BenchError(
            f"the listener did not start: {line.strip()!r}; see {log_path}: {log_path.read_text()[-2000:]}"
        )
    port = int(line.split(f"{HOST}:")[1].split()[0])
    print(f"listener: pid {process.pid}, {line.strip()}", flush=True)
    return process, port


def stop_listener(process: subprocess.Popen[str]) -> float | None:
    """SIGTERM and wait: returns the seconds the listener took to stop, None when it had to be killed."""
    return harness.stop_process(process)


# --- Sending -----------------------------------------------------------------------------------------------


@dataclass
class Lane:
    """One TCP connection sending its share sequentially."""

    messages: list[tuple[int, str]]
    latencies: list[float] = field(default_factory=list)
    acks: dict[int, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def run_lane(port: int, lane: Lane) -> None:
    vt, end = b"\x0b", b"\x1c\x0d"
    try:
        with socket.create_connection((HOST, port), timeout=ACK_TIMEOUT_S) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = b""
            for index, text in lane.messages:
                sent = time.perf_counter()
                sock.sendall(vt + text.encode() + end)
                while end not in buffer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("the listener closed the connection")
                    buffer += chunk
                frame, _, buffer = buffer.partition(end)
                lane.latencies.append(time.perf_counter() - sent)
                ack = frame.lstrip(vt)
                lane.acks[index] = ack
                if b"\rMSA|AA|" not in ack:
                    lane.errors.append(f"message {index}: {ack.decode(errors='replace')[:300]!r}")
    except OSError as exc:
        lane.errors.append(f"transport: {exc}")


def send_all(port: int, messages: list[tuple[int, str]], connections: int) -> tuple[list[Lane], float]:
    lanes = [Lane(messages[i::connections]) for i in range(connections)]
    threads = [threading.Thread(target=run_lane, args=(port, lane)) for lane in lanes]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return lanes, time.perf_counter() - started


def percentile_ms(seconds: list[float], fraction: float) -> float:
    return harness.percentile(seconds, fraction) * 1000


def stored_counts() -> dict[str, Any]:
    from django.db.models import Count

    from interop.models import HL7Message, HL7MessageResult
    from monitoring.models import PlateletCheck, PlateletResult

    return {
        "messages": HL7Message.objects.count(),
        "links": HL7MessageResult.objects.count(),
        "hl7_results": PlateletResult.objects.filter(source="hl7").count(),
        "checks_resulted": PlateletCheck.objects.filter(status="resulted").count(),
        "outcomes": dict(HL7Message.objects.values_list("outcome").annotate(n=Count("pk")).order_by("outcome")),
    }


# --- Main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.interrupt_on_sigterm()
    harness.require_postgres()
    var_dir = harness.make_var_dir("ivig-bench-hl7-")
    os.environ.update(bench_env(var_dir))
    listener: subprocess.Popen[str] | None = None
    database_created = False
    try:
        harness.recreate_database(BENCH_DB)
        database_created = True
        harness.setup_django()
        from django.db import connections

        harness.migrate_in_process()
        print(f"seeding {args.patients} patients with a completed first infusion (services) ...", flush=True)
        started = time.perf_counter()
        seeded = seed(args.patients)
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
        messages = build_messages(seeded, args.messages)
        connections.close_all()

        listener, port = start_listener(var_dir / "listener.log")
        print(
            f"sending {len(messages)} messages over {args.connections} connection(s), each waiting for its ACK; "
            f"load average {harness.load_average()}",
            flush=True,
        )
        lanes, seconds = send_all(port, list(enumerate(messages)), args.connections)
        latencies = [value for lane in lanes for value in lane.latencies]
        errors = [error for lane in lanes for error in lane.errors]
        acks = {index: ack for lane in lanes for index, ack in lane.acks.items()}
        counts = stored_counts()
        expected_checks = sum(
            min(len(CHECK_HOURS), len(messages[p :: args.patients])) for p in range(min(args.patients, len(messages)))
        )
        acknowledged_aa = len(acks) - sum(1 for error in errors if error.startswith("message "))

        print()
        print(f"messages sent:           {len(messages)}  (answered: {len(acks)}, AA: {acknowledged_aa})")
        print(f"errors:                  {len(errors)}")
        for error in errors[:3]:
            print(f"  first errors: {error}")
        print(f"wall time:               {seconds:.2f} s")
        print(f"throughput:              {len(acks) / seconds:.1f} msgs/s (send -> stored, classified result -> ACK)")
        print(
            f"ACK latency:             p50 {percentile_ms(latencies, 0.50):.1f} ms, "
            f"p95 {percentile_ms(latencies, 0.95):.1f} ms, max {max(latencies, default=float('nan')) * 1000:.1f} ms"
        )
        print(
            f"stored:                  {counts['messages']} messages, {counts['hl7_results']} HL7 platelet results "
            f"(expected {acknowledged_aa}), {counts['checks_resulted']} checks resulted (expected {expected_checks})"
        )
        print(f"outcomes:                {counts['outcomes']}")
        verified = counts["hl7_results"] == acknowledged_aa == len(messages) and counts["checks_resulted"] == (
            expected_checks
        )
        print(f"verification:            {'OK' if verified else 'MISMATCH'}")

        if args.resend:
            resend = list(enumerate(messages))[: args.resend]
            before = stored_counts()
            again, resend_seconds = send_all(port, resend, 1)
            same = sum(1 for index, ack in again[0].acks.items() if acks.get(index) == ack)
            after = stored_counts()
            print(
                f"resend of {len(resend)}:          identical ACK bytes {same}/{len(resend)}, results added "
                f"{after['hl7_results'] - before['hl7_results']}, messages added "
                f"{after['messages'] - before['messages']}, p50 "
                f"{percentile_ms(again[0].latencies, 0.5):.1f} ms, {len(resend) / resend_seconds:.0f} msgs/s"
            )
            verified = verified and same == len(resend) and after == before
        stop_seconds = stop_listener(listener)
        listener = None
        print(
            "listener stop on SIGTERM: "
            + (f"{stop_seconds:.2f} s" if stop_seconds is not None else "did not stop in 15 s (killed)")
        )
        print(f"load average after: {harness.load_average()}")
        return 0 if verified and not errors else 1
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        cleanup(listener, database_created, var_dir)


def cleanup(listener: subprocess.Popen[str] | None, database_created: bool, var_dir: Path) -> None:
    if listener is not None:
        stop_listener(listener)
    if database_created:
        harness.drop_database(BENCH_DB)
    shutil.rmtree(var_dir, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="results to send (default 2000)")
    parser.add_argument("--connections", type=int, default=1, help="TCP connections sending at once (default 1)")
    parser.add_argument("--patients", type=int, default=100, help="patients with an order (default 100)")
    parser.add_argument("--resend", type=int, default=200, help="messages resent to check idempotency (default 200)")
    args = parser.parse_args(argv)
    if not (1 <= args.messages <= 200_000 and 1 <= args.connections <= 16 and 1 <= args.patients <= 5000):
        parser.error(
            "keep it bounded: --messages 1-200000, --connections 1-16 (the listener's limit), --patients 1-5000"
        )
    if not 0 <= args.resend <= args.messages:
        parser.error("--resend must be between 0 and --messages")
    return args


if __name__ == "__main__":
    harness.ensure_venv(__file__)
    sys.exit(main())
