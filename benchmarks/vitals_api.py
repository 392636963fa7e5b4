"""Vitals API throughput under gunicorn + PostgreSQL, beside a bare Django view that inserts one row.

Run from the project folder (the virtualenv must exist: ``make venv``; PostgreSQL at 127.0.0.1:5432 with user
postgres and trust auth, Redis at 127.0.0.1:6379)::

    python benchmarks/vitals_api.py [--clients 8] [--seconds 20] [--workers 4] [--warmup 2] [--rounds 4]

What it does, all on loopback and self-cleaning:

1. drops and re-creates the database ``ivig_bench``, runs ``manage.py migrate`` on it;
2. seeds nurses with API tokens and verified orders whose infusions are running, each with a vitals history,
   through the project's own services (a subprocess with Django set up);
3. starts gunicorn (sync workers) with ``benchmarks.bench_settings`` (the project's settings plus
   ``/bench/bare-insert/``);
4. for each target, N client threads POST back to back over http.client connections: a warm-up, then a fixed
   measuring window; only 2xx responses completed inside the window count towards req/s and latency. The
   ``--seconds`` per target are split into ``--rounds`` windows run in alternating order (bare, vitals, vitals,
   bare, ...) so that a machine whose speed drifts does not bias the ratio;
5. prints target, requests, errors, req/s, p50 and p95 latency, then vitals req/s / bare req/s against the 0.5
   target (issue: "at least half the bare view's throughput");
6. stops gunicorn and drops the database, also on Ctrl-C or a failure.

The load generator is standard library only, so this file itself runs under any Python 3.11+; everything that
needs Django runs in the virtualenv's interpreter.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"  # loopback only: the benchmark never talks to another machine
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BENCH_DB = "ivig_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"  # a database of its own; the vitals path enqueues nothing anyway
TARGET_RATIO = 0.5
REQUEST_TIMEOUT_S = 30.0
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


class BenchError(RuntimeError):
    """A setup step failed; the message says which and why."""


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
    from rest_framework.authtoken.models import Token

    from infusions import services
    from infusions.models import Product, VitalSignsEntry
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
    tokens = [Token.objects.create(user=nurse).key for nurse in nurse_users]
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
            lot_numbers=[f"BENCH-LOT-{n}"],
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


# --- Environment and subprocesses ---------------------------------------------------------------------------


def venv_python() -> Path:
    python = VENV_BIN / "python"
    if not python.exists() or not (VENV_BIN / "gunicorn").exists():
        raise BenchError(f"no virtualenv with gunicorn at {VENV_BIN}: run `make venv` first")
    return python


def bench_env(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{PG_SERVER}/{BENCH_DB}",
            "SECRET_KEY": "bench",
            "DJANGO_DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CELERY_BROKER_URL": REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
            # Settings create folders under IVIG_VAR_DIR: keep them in a temporary folder, not the checkout.
            "IVIG_VAR_DIR": str(var_dir),
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def run(command: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip()[-3000:]}")
    return done.stdout


def admin_sql(python: Path, env: dict[str, str], statement: str) -> None:
    # psycopg from the virtualenv (psql may not be installed); autocommit because CREATE/DROP DATABASE cannot
    # run inside a transaction.
    code = "import sys, psycopg\nwith psycopg.connect(sys.argv[1], autocommit=True) as c:\n    c.execute(sys.argv[2])\n"
    run([str(python), "-c", code, f"{PG_SERVER}/postgres", statement], env, statement, timeout=60)


def require_port(port: int, service: str) -> None:
    try:
        socket.create_connection((HOST, port), timeout=3).close()
    except OSError as exc:
        raise BenchError(f"{service} is not answering at {HOST}:{port} ({exc})") from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_gunicorn(env: dict[str, str], port: int, workers: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "gunicorn"),
        "ivig_tracker.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        # The default control socket is one path per user ($HOME/.gunicorn): another gunicorn would clash.
        "--no-control-socket",
    ]
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only this script, which then stops gunicorn in order.
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{tail(log_path)}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()  # any answer means a worker has Django loaded
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer within {timeout:.0f} s:\n{tail(log_path)}")


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM to the master: graceful, the workers finish their request
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        # Nearest rank: the smallest latency that at least `fraction` of requests did not exceed.
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000


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
        cpu_seconds={group: cpu_after[group] - cpu_before[group] for group in cpu_after.keys() & cpu_before.keys()},
    )


# --- CPU accounting (Linux /proc; elsewhere the CPU lines are left out) --------------------------------------

CPU_GROUPS = ("web (gunicorn)", "PostgreSQL", "load generator")


def cpu_snapshot(web_pid: int) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (master and workers), every PostgreSQL process, and this process.

    On a machine where client, server and database share the CPUs, req/s is roughly the inverse of the CPU all
    three spend per request; this shows where a target's requests spend it.
    """
    proc = Path("/proc")
    if not (proc / str(web_pid) / "stat").exists():
        return {}
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    web = postgres = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended in between
        command, rest = stat[stat.find("(") + 1 : stat.rfind(")")], stat[stat.rfind(")") + 1 :].split()
        # After the parenthesised command name: the parent pid is the 2nd field, utime and stime the 12th and 13th.
        parent, used = int(rest[1]), (int(rest[11]) + int(rest[12])) / ticks_per_second
        if int(entry.name) == web_pid or parent == web_pid:
            web += used
        elif command == "postgres":
            postgres += used
    own = os.times()
    return {CPU_GROUPS[0]: web, CPU_GROUPS[1]: postgres, CPU_GROUPS[2]: own.user + own.system}


# --- Report -------------------------------------------------------------------------------------------------


def report(results: list[Result], round_ratios: list[float]) -> float:
    print()
    print(f"{'target':<30} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        print(
            f"{r.name:<30} {r.requests:>9} {r.errors:>7} {r.rps:>9.1f} "
            f"{r.percentile_ms(0.50):>8.1f} {r.percentile_ms(0.95):>8.1f}"
        )
    for r in results:
        if r.warmup_errors:
            print(f"{r.name}: {r.warmup_errors} error(s) during the warm-up")
        if r.first_error:
            print(f"{r.name}: first error: {r.first_error}")
    if all(r.cpu_seconds for r in results):
        print("\nCPU ms per request (whole drive, warm-up included)")
        print(f"{'target':<30} " + " ".join(f"{group:>16}" for group in CPU_GROUPS) + f" {'total':>8}")
        totals = []
        for r in results:
            shares = [r.cpu_ms_per_request(group) for group in CPU_GROUPS]
            totals.append(sum(shares))
            print(f"{r.name:<30} " + " ".join(f"{share:>16.2f}" for share in shares) + f" {totals[-1]:>8.2f}")
        # Steadier than req/s on a shared machine: CPU time is not lost to other tenants' bursts.
        print(f"ratio of CPU per request bare/vitals: {totals[0] / totals[1]:.2f}")
    bare, vitals = results
    ratio = vitals.rps / bare.rps if bare.rps else 0.0
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"\nratio vitals/bare req/s: {ratio:.2f}  (target >= {TARGET_RATIO:.2f}: {verdict})")
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
    args = parser.parse_args(argv)
    if min(args.clients, args.workers, args.rounds) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--clients, --workers and --rounds must be at least 1, --seconds above 0, --warmup 0 or more")
    if args.seconds > 600 or args.clients > 256:
        parser.error("keep it bounded: --seconds at most 600, --clients at most 256")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, so the finally block stops gunicorn and drops the database.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    python = venv_python()
    require_port(5432, "PostgreSQL")
    require_port(6379, "Redis")
    var_dir = Path(tempfile.mkdtemp(prefix="ivig-bench-"))
    env = bench_env(var_dir)
    log_path = var_dir / "gunicorn.log"
    gunicorn: subprocess.Popen[bytes] | None = None
    database_created = False
    try:
        print(f"database {BENCH_DB}: re-creating and migrating ...", flush=True)
        admin_sql(python, env, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin_sql(python, env, f"CREATE DATABASE {BENCH_DB}")
        database_created = True
        run([str(python), "manage.py", "migrate", "--noinput"], env, "manage.py migrate")
        print(f"seeding {SEED_NURSES} nurses, {SEED_ORDERS} running infusions x {SEED_HISTORY} vitals ...", flush=True)
        seeded = json.loads(
            run(
                [
                    str(python),
                    "-c",
                    f"from benchmarks.vitals_api import seed; seed({SEED_NURSES}, {SEED_ORDERS}, {SEED_HISTORY})",
                ],
                env,
                "seeding",
            ).splitlines()[-1]
        )
        port = free_port()
        print(f"gunicorn: {args.workers} sync workers on {HOST}:{port} ...", flush=True)
        gunicorn = start_gunicorn(env, port, args.workers, log_path)
        wait_until_serving(gunicorn, port, log_path)

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
        window = args.seconds / args.rounds
        print(
            f"load: {args.clients} clients; {args.seconds:g} s measured per target in {args.rounds} round(s) of "
            f"{window:g} s, each after a {args.warmup:g} s warm-up; load average before: "
            f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
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
                result = drive(port, target, args.clients, args.warmup, window, gunicorn.pid)
                rps[target.name] = result.rps
                merged[target.name] = merged[target.name].merged(result) if target.name in merged else result
            bare_rps = rps[targets[0].name]
            round_ratios.append(rps[targets[1].name] / bare_rps if bare_rps else 0.0)
        results = [merged[target.name] for target in targets]

        report(results, round_ratios)
        written = int(
            run([str(python), "-c", "from benchmarks.vitals_api import count_vitals_rows as c; c()"], env, "count")
        )
        print(
            f"vitals rows written: {written - seeded['vitals_rows']} (2xx answers, warm-up included: "
            f"{results[1].ok_total})"
        )
        problems = [
            line
            for line in log_path.read_text(errors="replace").splitlines()
            if "[ERROR]" in line or "[CRITICAL]" in line
        ]
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
            stop_gunicorn(gunicorn)
        if database_created:
            try:
                admin_sql(python, env, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            except BenchError as exc:
                print(f"could not drop {BENCH_DB}: {exc}", file=sys.stderr)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
