"""Vitals API under gunicorn + PostgreSQL: throughput at saturation beside a bare Django view that inserts one
row, then latency at a fixed offered load against the latency budget.

Run from the project folder (the virtualenv must exist: ``make venv``; PostgreSQL at 127.0.0.1:5432 with user
postgres and trust auth, Redis at 127.0.0.1:6379)::

    python benchmarks/vitals_api.py [--clients 8] [--seconds 20] [--workers 4] [--warmup 2] [--rounds 4]
        [--phase all|saturation|fixed] [--rate 50] [--fixed-seconds 25]

What it does, all on loopback and self-cleaning:

1. drops and re-creates the database ``ivig_bench``, runs ``manage.py migrate`` on it;
2. seeds nurses with API tokens and verified orders whose infusions are running, each with a vitals history,
   through the project's own services (a subprocess with Django set up);
3. starts gunicorn (sync workers) with ``benchmarks.bench_settings`` (the project's settings plus
   ``/bench/bare-insert/``);
4. saturation phase: for each target, N client threads POST back to back over http.client connections: a
   warm-up, then a fixed measuring window; only 2xx responses completed inside the window count towards req/s and
   latency. The ``--seconds`` per target are split into ``--rounds`` windows run in alternating order (bare,
   vitals, vitals, bare, ...) so that a machine whose speed drifts does not bias the ratio. Prints target,
   requests, errors, req/s, p50 and p95 latency, CPU per request, then vitals req/s / bare req/s (what the API
   layer costs beside one plain insert; a figure to watch, not a target);
5. fixed-load phase: vitals POSTs sent open loop on a fixed schedule, ``--rate`` per second for
   ``--fixed-seconds`` after a ``--warmup``, whatever the answers do; latency is measured from each request's
   scheduled send time, so queueing shows in it (no coordinated omission). The vitals history grows with every
   answer. Prints offered and achieved rate, p50, p95, p99, max, errors and the budget line
   "budget: p95 < 100 ms at 50 req/s — met/NOT met";
6. counts the vitals rows written against the 2xx answers, stops gunicorn and drops the database, also on Ctrl-C
   or a failure.

It talks to the application only over HTTP and reads and writes through Django models and services. Started with
another interpreter, it re-runs itself under ``.venv/bin/python``; the load generator itself is standard library
only, and everything that needs Django runs in subprocesses with the benchmark's settings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable for ``benchmarks.harness``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import HOST, BenchError

BENCH_DB = harness.database_name("ivig_bench")
REDIS_DB = 9  # a database of its own; the vitals path enqueues nothing anyway
REQUEST_TIMEOUT_S = 30.0
# The latency budget at a fixed offered load: p95 under 100 ms at 50 vitals POSTs per second.
BUDGET_RATE_PER_S = 50.0
BUDGET_P95_MS = 100.0
FIXED_SENDERS = 32  # threads that send the scheduled requests; a request waits in a queue when all are busy
FIXED_REQUEST_TIMEOUT_S = 10.0
# Seed sizes: enough rows that the vitals path's reads (token, groups, permissions, infusion, baseline) hit
# real indexes rather than one-row tables, small enough that seeding stays a few seconds.
SEED_NURSES = 4
SEED_ORDERS = 8
SEED_HISTORY = 30  # vitals per infusion before the run (one every 5 minutes)

VITALS = {
    "temperature_c": "36.8",
    "heart_rate_bpm": 72,
    "systolic_bp_mmhg": 120,
    "diastolic_bp_mmhg": 75,
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
}


# --- Seeding (runs inside the virtualenv, in a subprocess with the benchmark's environment) ------------------


def seed(nurses: int, orders: int, history: int) -> None:
    """Create staff, tokens, verified and started infusions with vitals history; print their ids as JSON.

    Called as ``python -c "from benchmarks.vitals_api import seed; seed(...)"`` so that it gets the same
    DATABASE_URL and settings as gunicorn, and goes through the services the API itself calls.
    """
    import django

    django.setup()

    from datetime import date, timedelta
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from core.tokens import issue_token
    from infusions import services
    from infusions.models import Product, VitalSignsEntry
    from infusions.services.vials import planned_vials
    from patients import services as patient_services

    user_model = get_user_model()

    def staff(username: str, role: str) -> Any:
        # No password: an unusable one skips PBKDF2 (tokens are how the load generator signs in).
        user = user_model.objects.create_user(username=username, first_name="Bench", last_name=username)
        user.groups.add(Group.objects.get(name=role))
        return user

    hematologist = staff("bench-haem", "hematologist")
    pharmacist = staff("bench-pharm", "pharmacist")
    nurse_users = [staff(f"bench-nurse{n}", "nurse") for n in range(nurses)]
    tokens = [issue_token(nurse)[1] for nurse in nurse_users]
    product = Product.objects.get(name="Gamunex-C")
    now = timezone.now()
    first_vitals_at = now - timedelta(minutes=5 * history + 10)
    infusion_ids = []
    for n in range(orders):
        patient = patient_services.create_patient(
            data={
                "mrn": f"BENCH{n:05d}",
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
        order = services.create_order(
            data={
                "patient": patient,
                "regimen": "one_dose_1g_per_kg",
                "product": product,
                "baseline_platelet_count": 12,
                "first_infusion_on": timezone.localdate(),
            },
            user=hematologist,
        )
        order = services.verify_order(order_id=order.pk, user=pharmacist)
        infusion = order.infusions.get()
        nurse = nurse_users[n % nurses]
        # Baseline first (start_infusion requires one), then the infusion runs while vitals keep coming: the
        # state a bedside tablet posts into.
        services.record_vitals(infusion_id=infusion.pk, user=nurse, values=VITALS, taken_at=first_vitals_at)
        services.start_infusion(
            infusion_id=infusion.pk,
            user=nurse,
            checklist=dict.fromkeys(services.CHECKLIST_ITEMS, True),
            vials=planned_vials(
                infusion, lot_number=f"BENCH-LOT-{n}", expiry_date=first_vitals_at.date() + timedelta(days=365)
            ),
            started_at=first_vitals_at + timedelta(minutes=2),
        )
        for k in range(1, history):
            values = {**VITALS, "heart_rate_bpm": 70 + k % 5}  # small, alert-free variation
            services.record_vitals(
                infusion_id=infusion.pk, user=nurse, values=values, taken_at=first_vitals_at + timedelta(minutes=5 * k)
            )
        infusion_ids.append(infusion.pk)
    print(json.dumps({"tokens": tokens, "infusions": infusion_ids, "vitals_rows": VitalSignsEntry.objects.count()}))


def count_vitals_rows() -> None:
    import django

    django.setup()
    from infusions.models import VitalSignsEntry

    print(VitalSignsEntry.objects.count())


# --- Environment ------------------------------------------------------------------------------------------


def bench_env(var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **harness.django_env(
            database=BENCH_DB,
            broker_url=harness.redis_url(REDIS_DB),
            var_dir=var_dir,
            settings="benchmarks.bench_settings",
            ALLOWED_HOSTS="127.0.0.1,localhost",
        ),
    }


def in_django(env: dict[str, str], call: str, what: str) -> str:
    """Run ``from benchmarks.vitals_api import ...; <call>`` in the virtualenv with the benchmark's settings."""
    return harness.run([str(harness.VENV_BIN / "python"), "-c", call], env, what)


# --- Load generation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    paths: list[str]  # client k starts at paths[k] and cycles, spreading clients over the infusions
    headers: list[dict[str, str]]  # client k uses headers[k % len]: one nurse token per client
    body: bytes


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)  # 2xx completed inside the window, seconds
    errors: int = 0  # non-2xx or transport errors completed inside the window
    ok_total: int = 0  # every 2xx, warm-up included (to check against the rows written)
    answered_total: int = 0  # every request that completed, warm-up and errors included (CPU per request)
    warmup_errors: int = 0
    first_error: tuple[float, str] | None = None  # (when, what), the earliest across clients is shown


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]
    errors: int
    ok_total: int
    warmup_errors: int
    first_error: str | None
    answered_total: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by process group, over the whole drive

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def merged(self, other: Result) -> Result:
        return Result(
            name=self.name,
            seconds=self.seconds + other.seconds,
            latencies=self.latencies + other.latencies,
            errors=self.errors + other.errors,
            ok_total=self.ok_total + other.ok_total,
            warmup_errors=self.warmup_errors + other.warmup_errors,
            first_error=self.first_error or other.first_error,
            answered_total=self.answered_total + other.answered_total,
            cpu_seconds={
                group: self.cpu_seconds.get(group, 0.0) + other.cpu_seconds.get(group, 0.0)
                for group in {*self.cpu_seconds, *other.cpu_seconds}
            },
        )

    def cpu_ms_per_request(self, group: str) -> float:
        if not self.answered_total or group not in self.cpu_seconds:
            return float("nan")
        return self.cpu_seconds[group] / self.answered_total * 1000

    def percentile_ms(self, fraction: float) -> float:
        return harness.percentile(self.latencies, fraction) * 1000


def client_loop(port: int, target: Target, index: int, window_start: float, stop_at: float, stats: ClientStats) -> None:
    # One connection per client, asking for keep-alive; gunicorn's sync workers close after each response, and
    # http.client then reconnects by itself on the next request (the same for both targets).
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        **target.headers[index % len(target.headers)],
    }
    sequence = index
    try:
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            path = target.paths[sequence % len(target.paths)]
            sequence += 1
            try:
                conn.request("POST", path, body=target.body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # start afresh on the next request
                status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
            ended = time.perf_counter()
            ok = 200 <= status < 300
            stats.ok_total += ok
            stats.answered_total += 1
            if not ok and stats.first_error is None:
                text = payload.decode(errors="replace")[:500]
                stats.first_error = (ended, f"POST {path} -> {status or 'no response'}: {text}")
            # Count what completed inside the window, whenever it began: completions per second is throughput.
            if window_start <= ended <= stop_at:
                if ok:
                    stats.latencies.append(ended - began)
                else:
                    stats.errors += 1
            elif ended < window_start and not ok:
                stats.warmup_errors += 1
    finally:
        conn.close()


def drive(port: int, target: Target, clients: int, warmup: float, seconds: float, web_pid: int) -> Result:
    cpu_before = cpu_snapshot(web_pid)
    start = time.perf_counter()
    window_start = start + warmup
    stop_at = window_start + seconds
    stats = [ClientStats() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop, args=(port, target, k, window_start, stop_at, stats[k]), name=f"client-{k}", daemon=True
        )
        for k in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Bounded: a client stops issuing at stop_at, and its last request times out after REQUEST_TIMEOUT_S.
        thread.join(timeout=max(0.0, stop_at - time.perf_counter()) + REQUEST_TIMEOUT_S + 5)
    cpu_after = cpu_snapshot(web_pid)
    errors = [s.first_error for s in stats if s.first_error is not None]
    return Result(
        name=target.name,
        seconds=seconds,
        latencies=[latency for s in stats for latency in s.latencies],
        errors=sum(s.errors for s in stats),
        ok_total=sum(s.ok_total for s in stats),
        warmup_errors=sum(s.warmup_errors for s in stats),
        first_error=min(errors)[1] if errors else None,
        answered_total=sum(s.answered_total for s in stats),
        cpu_seconds=harness.cpu_used(cpu_before, cpu_after),
    )


# --- Fixed offered load (open loop) ------------------------------------------------------------------------


@dataclass
class FixedLoadResult:
    rate: float  # offered, requests per second
    seconds: float  # measuring window (scheduled send times inside it count)
    latencies: list[float]  # 2xx answers of counted requests, from the scheduled send time, seconds
    errors: int  # non-2xx, transport errors or no answer, of counted requests
    scheduled: int  # counted requests (scheduled inside the window)
    ok_total: int  # every 2xx, warm-up included
    answered_total: int  # every request that completed, warm-up included
    last_answer_at: float  # perf_counter of the last counted answer
    window_start: float
    late_sends: int  # counted requests that left more than 10 ms after their scheduled time (client queueing)
    first_error: str | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        """2xx answers per second, from the window's start until the last counted answer."""
        span = max(self.seconds, self.last_answer_at - self.window_start)
        return len(self.latencies) / span if span > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return harness.percentile(self.latencies, fraction) * 1000

    @property
    def budget_met(self) -> bool:
        return self.errors == 0 and bool(self.latencies) and self.percentile_ms(0.95) < BUDGET_P95_MS


def fixed_load(port: int, target: Target, rate: float, warmup: float, seconds: float, web_pid: int) -> FixedLoadResult:
    """Send ``target``'s POSTs on a fixed schedule, ``rate`` per second, whatever the answers do (open loop).

    A dispatcher puts each request on a queue at its scheduled time; ``FIXED_SENDERS`` threads send them. Latency
    is measured from the scheduled time, not from when a sender got to it, so a slow server (or a client whose
    senders are all busy) shows as queueing in the latency instead of lowering the load it is offered: no
    coordinated omission. Bounded: ``rate * (warmup + seconds)`` requests, each with a timeout.
    """
    interval = 1.0 / rate
    warmup_count = round(rate * warmup)
    count = warmup_count + round(rate * seconds)
    pending: queue.Queue[tuple[int, float] | None] = queue.Queue()
    lock = threading.Lock()
    give_up = threading.Event()  # past the deadline: senders drop what is still queued
    outcomes: list[tuple[int, float, float, float, int, bytes]] = []  # (i, scheduled, sent, answered, status, body)

    def sender() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=FIXED_REQUEST_TIMEOUT_S)
        try:
            while (item := pending.get()) is not None:
                if give_up.is_set():
                    continue
                index, scheduled = item
                path = target.paths[index % len(target.paths)]
                headers = {
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    **target.headers[index % len(target.headers)],
                }
                sent = time.perf_counter()
                try:
                    conn.request("POST", path, body=target.body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
                answered = time.perf_counter()
                with lock:
                    outcomes.append((index, scheduled, sent, answered, status, payload[:500]))
        finally:
            conn.close()

    senders = [threading.Thread(target=sender, name=f"sender-{k}", daemon=True) for k in range(FIXED_SENDERS)]
    for thread in senders:
        thread.start()
    cpu_before = cpu_snapshot(web_pid)
    start = time.perf_counter() + 0.05
    window_start = start + warmup_count * interval
    for index in range(count):
        scheduled = start + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pending.put((index, scheduled))
    for _ in senders:
        pending.put(None)
    # Bounded: what is not answered within two request timeouts of the last send is dropped (and counted as an
    # error); a sender then finishes at most its one request in flight.
    deadline = time.perf_counter() + 2 * FIXED_REQUEST_TIMEOUT_S
    for thread in senders:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    give_up.set()
    for thread in senders:
        thread.join(timeout=FIXED_REQUEST_TIMEOUT_S + 1)
    cpu_after = cpu_snapshot(web_pid)

    with lock:
        done = sorted(outcomes)
    counted = [o for o in done if o[0] >= warmup_count]
    ok = [o for o in counted if 200 <= o[4] < 300]
    failed = [o for o in done if not 200 <= o[4] < 300]
    first_error = None
    if failed:
        index, _, _, _, status, body = failed[0]
        path = target.paths[index % len(target.paths)]
        first_error = f"POST {path} -> {status or 'no response'}: {body.decode(errors='replace')}"
    return FixedLoadResult(
        rate=rate,
        seconds=seconds,
        latencies=[answered - scheduled for _, scheduled, _, answered, _, _ in ok],
        # A counted request that never completed (senders still busy at the deadline) is an error too.
        errors=(count - warmup_count) - len(ok),
        scheduled=count - warmup_count,
        ok_total=sum(1 for o in done if 200 <= o[4] < 300),
        answered_total=len(done),
        last_answer_at=max((o[3] for o in counted), default=window_start),
        window_start=window_start,
        late_sends=sum(1 for o in counted if o[2] - o[1] > 0.010),
        first_error=first_error,
        cpu_seconds=harness.cpu_used(cpu_before, cpu_after),
    )


def report_fixed_load(result: FixedLoadResult, name: str) -> None:
    print(f"\nfixed offered load: {name}, open loop, latency from each request's scheduled send time")
    print(f"offered rate:   {result.rate:.1f} req/s ({result.scheduled} requests in {result.seconds:g} s)")
    print(f"achieved rate:  {result.achieved:.1f} req/s (2xx answers)")
    print(
        f"latency ms:     p50 {result.percentile_ms(0.50):.1f}, p95 {result.percentile_ms(0.95):.1f}, "
        f"p99 {result.percentile_ms(0.99):.1f}, max {max(result.latencies, default=float('nan')) * 1000:.1f}"
    )
    print(f"errors:         {result.errors}")
    if result.late_sends:
        print(f"sent over 10 ms after schedule (all senders busy): {result.late_sends}")
    if result.first_error:
        print(f"first error:    {result.first_error}")
    if result.cpu_seconds and result.answered_total:
        shares = [result.cpu_seconds[group] / result.answered_total * 1000 for group in CPU_GROUPS]
        parts = ", ".join(f"{group} {share:.2f}" for group, share in zip(CPU_GROUPS, shares, strict=True))
        print(f"CPU ms per request (warm-up included): {parts}, total {sum(shares):.2f}")
    if result.rate == BUDGET_RATE_PER_S:
        verdict = "met" if result.budget_met else "NOT met"
    else:
        verdict = f"not judged (offered {result.rate:g} req/s)"
    print(f"budget: p95 < {BUDGET_P95_MS:.0f} ms at {BUDGET_RATE_PER_S:.0f} req/s — {verdict}")


# --- CPU accounting (Linux /proc; elsewhere the CPU lines are left out) --------------------------------------

CPU_GROUPS = ("web (gunicorn)", "PostgreSQL", "load generator")


def cpu_snapshot(web_pid: int) -> harness.CpuSnapshot:
    """CPU seconds used so far by gunicorn (master and workers), every PostgreSQL process, and this process."""
    used = harness.cpu_snapshot(web_pid)
    return {CPU_GROUPS[0]: used["tree"], CPU_GROUPS[1]: used["postgres"], CPU_GROUPS[2]: used["self"]} if used else {}


# --- Report -------------------------------------------------------------------------------------------------


def report(results: list[Result], round_ratios: list[float]) -> float:
    print()
    widths = (30, 9, 7, 9, 8, 8)
    print(harness.row(("target", "requests", "errors", "req/s", "p50 ms", "p95 ms"), widths))
    for r in results:
        cells = (r.name, str(r.requests), str(r.errors), f"{r.rps:.1f}")
        print(harness.row((*cells, f"{r.percentile_ms(0.50):.1f}", f"{r.percentile_ms(0.95):.1f}"), widths))
    for r in results:
        if r.warmup_errors:
            print(f"{r.name}: {r.warmup_errors} error(s) during the warm-up")
        if r.first_error:
            print(f"{r.name}: first error: {r.first_error}")
    if all(r.cpu_seconds for r in results):
        print("\nCPU ms per request (whole drive, warm-up included)")
        widths = (30, *(16 for _ in CPU_GROUPS), 8)
        print(harness.row(("target", *CPU_GROUPS, "total"), widths))
        totals = []
        for r in results:
            shares = [r.cpu_ms_per_request(group) for group in CPU_GROUPS]
            totals.append(sum(shares))
            print(harness.row((r.name, *(f"{share:.2f}" for share in shares), f"{totals[-1]:.2f}"), widths))
        # Steadier than req/s on a shared machine: CPU time is not lost to other tenants' bursts.
        print(f"ratio of CPU per request bare/vitals: {totals[0] / totals[1]:.2f}")
    bare, vitals = results
    ratio = vitals.rps / bare.rps if bare.rps else 0.0
    print(f"\nratio vitals/bare req/s: {ratio:.2f}")
    if len(round_ratios) > 1:
        print("ratio per round: " + ", ".join(f"{r:.2f}" for r in round_ratios))
    return ratio


# --- Main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per target (default 20)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, both targets (default 4)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before each window, not counted (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="split --seconds into this many alternating rounds (default 4)"
    )
    parser.add_argument(
        "--phase",
        choices=("all", "saturation", "fixed"),
        default="all",
        help="saturation (req/s, bare vs vitals), fixed (latency at --rate), or all (default)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=BUDGET_RATE_PER_S,
        help=f"fixed phase: offered req/s (default {BUDGET_RATE_PER_S:g})",
    )
    parser.add_argument(
        "--fixed-seconds", type=float, default=25.0, help="fixed phase: measuring window, after --warmup (default 25)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 500 or not 0 < args.fixed_seconds <= 300:
        parser.error("keep it bounded: --rate above 0 and at most 500, --fixed-seconds above 0 and at most 300")
    if min(args.clients, args.workers, args.rounds) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--clients, --workers and --rounds must be at least 1, --seconds above 0, --warmup 0 or more")
    if args.seconds > 600 or args.clients > 256:
        parser.error("keep it bounded: --seconds at most 600, --clients at most 256")
    return args


def saturation_phase(args: argparse.Namespace, port: int, targets: list[Target], web_pid: int) -> int:
    """Both targets back to back at saturation, in alternating rounds; prints the report, returns the vitals 2xx."""
    window = args.seconds / args.rounds
    print(
        f"load: {args.clients} clients; {args.seconds:g} s measured per target in {args.rounds} round(s) of "
        f"{window:g} s, each after a {args.warmup:g} s warm-up; load average before: {harness.load_average()}",
        flush=True,
    )
    # Rounds alternate the order (bare, vitals, then vitals, bare, ...): on a shared or throttled machine
    # the throughput drifts, and back-to-back pairs in both orders keep that drift out of the ratio.
    merged: dict[str, Result] = {}
    round_ratios = []
    for number in range(args.rounds):
        ordered = targets if number % 2 == 0 else targets[::-1]
        rps: dict[str, float] = {}
        for target in ordered:
            print(f"  round {number + 1}: {target.name} ...", flush=True)
            result = drive(port, target, args.clients, args.warmup, window, web_pid)
            rps[target.name] = result.rps
            merged[target.name] = merged[target.name].merged(result) if target.name in merged else result
        bare_rps = rps[targets[0].name]
        round_ratios.append(rps[targets[1].name] / bare_rps if bare_rps else 0.0)
    results = [merged[target.name] for target in targets]
    report(results, round_ratios)
    return results[1].ok_total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.interrupt_on_sigterm()
    var_dir = harness.make_var_dir("ivig-bench-")
    env = bench_env(var_dir)
    log_path = var_dir / "gunicorn.log"
    gunicorn: subprocess.Popen[bytes] | None = None
    database_created = False
    try:
        harness.require_executable("gunicorn")
        harness.require_postgres()
        harness.require_redis()
        harness.recreate_database(BENCH_DB)
        database_created = True
        harness.migrate_in_subprocess(env)
        print(f"seeding {SEED_NURSES} nurses, {SEED_ORDERS} running infusions x {SEED_HISTORY} vitals ...", flush=True)
        seeded = json.loads(
            in_django(
                env,
                f"from benchmarks.vitals_api import seed; seed({SEED_NURSES}, {SEED_ORDERS}, {SEED_HISTORY})",
                "seeding",
            ).splitlines()[-1]
        )
        port = harness.free_port()
        print(f"gunicorn: {args.workers} sync workers on {HOST}:{port} ...", flush=True)
        gunicorn = harness.start_gunicorn(env, port, args.workers, log_path)
        harness.wait_until_serving(gunicorn, port, log_path)

        vitals_body = json.dumps(VITALS).encode()
        targets = [
            Target("bare insert (Django view)", ["/bench/bare-insert/"], [{}], b"{}"),
            Target(
                "vitals API (POST .../vitals/)",
                [f"/api/v1/infusions/{pk}/vitals/" for pk in seeded["infusions"]],
                [{"Authorization": f"Token {key}"} for key in seeded["tokens"]],
                vitals_body,
            ),
        ]
        vitals_ok = 0
        if args.phase in ("all", "saturation"):
            vitals_ok += saturation_phase(args, port, targets, gunicorn.pid)
        if args.phase in ("all", "fixed"):
            print(
                f"\nfixed load: {args.rate:g} vitals POSTs per second for {args.fixed_seconds:g} s after a "
                f"{args.warmup:g} s warm-up; load average before: {harness.load_average()}",
                flush=True,
            )
            fixed = fixed_load(port, targets[1], args.rate, args.warmup, args.fixed_seconds, gunicorn.pid)
            report_fixed_load(fixed, targets[1].name)
            vitals_ok += fixed.ok_total
        written = int(in_django(env, "from benchmarks.vitals_api import count_vitals_rows as c; c()", "count"))
        print(f"vitals rows written: {written - seeded['vitals_rows']} (2xx answers, warm-up included: {vitals_ok})")
        problems = harness.logged_errors(log_path)
        if problems:
            print(f"gunicorn logged {len(problems)} error line(s), first: {problems[0]}")
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if gunicorn is not None:
            harness.stop_process(gunicorn)
        if database_created:
            harness.drop_database(BENCH_DB)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    harness.ensure_venv(__file__)
    sys.exit(main())
