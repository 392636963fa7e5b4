"""Dashboards at hospital scale: server time of each dashboard at a tenth of the synthetic dataset and at all of it.

The targets: p50 under 150 ms at full size (10,000 patients, 20,000 orders, ~80,000 checks, 1,000,000 vitals),
and ten times the data costs under 1.5 times the time.

Run from the project folder (PostgreSQL at 127.0.0.1:5432 with user postgres and trust auth; the script re-runs
itself under ``.venv/bin/python`` when started with another interpreter)::

    python benchmarks/dashboards.py [--keep] [--requests 30] [--warmup 3] [--scales 0.1,1.0] [--same-workload]

What it does, on loopback only and self-cleaning (also on Ctrl-C, SIGTERM or a failed step):

1. for each scale, smallest first: drops and re-creates the database ``ivig_bench_dash``, migrates it, and runs
   ``benchmarks/synthetic_dataset.py --scale S`` (its progress bars are shown; the build is timed), then
   ``VACUUM (ANALYZE)``: the planner statistics of the freshly loaded tables (ANALYZE) and their visibility maps
   (VACUUM), the state autovacuum leaves a production database in; done now, autovacuum does not start on the
   new rows in the middle of the measurement. By default every scale spreads its courses over the same year, so
   the smaller hospital also has a tenth of the day's work (infusions today, orders to verify, active courses);
   with ``--same-workload`` a smaller scale is built over proportionally fewer days (``--history-days``), so both
   databases hold the same day's work and only the history differs;
2. in a subprocess with Django set up on that database (DEBUG off), signs in one synthetic user per role
   (``Client.force_login``) and times ``--requests`` GETs per page after ``--warmup`` untimed ones, in process
   with ``django.test.Client``: the time Django takes to produce the response (middleware, view, queries,
   template), without a network or a WSGI server; then one more request per page with the query log on, for the
   query count and the time spent in SQL;
3. prints one table: p50 and p95 per page and scale, the ratio of the p50s (largest scale / smallest), the two
   targets, the queries per page and the SQL share of one request;
4. drops the database unless ``--keep`` (then the largest scale's data stays, to explore with EXPLAIN).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable for ``benchmarks.harness``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import PG_SERVER, BenchError

BENCH_DB = harness.database_name("ivig_bench_dash")
REDIS_DB = 11  # never used by these GETs; set so the settings never pick a default
DATASET_SCRIPT = harness.ROOT / "benchmarks" / "synthetic_dataset.py"
HISTORY_DAYS = 365  # synthetic_dataset.py's default
MIN_HISTORY_DAYS = 21  # its minimum: the hematologist dashboard's active-course window
TARGET_P50_MS = 150.0
TARGET_RATIO = 1.5
BUILD_TIMEOUT_S = 1800.0
MEASURE_TIMEOUT_S = 900.0

# (name, path, role). "{patient}" is filled in with a patient whose latest course has results and vitals.
PAGES = (
    ("hematology", "/hematology/", "hematologist"),
    ("hematology ?category=no_response", "/hematology/?category=no_response", "hematologist"),
    ("nurse worklist", "/nurse/", "nurse"),
    ("pharmacy", "/pharmacy/", "pharmacist"),
    ("patient response", "/hematology/patients/{patient}/", "hematologist"),
)


# --- Measuring (runs in a subprocess with Django set up on the benchmark database) --------------------------


def pick_patient() -> int:
    """A patient whose course shown first on the response page (the latest non-draft one) has several results and
    several days of infusions with vitals: the heaviest ordinary case of that page."""
    from django.db.models import Count, F, OuterRef, Q, Subquery

    from infusions.models import Order

    latest = (
        Order.objects.filter(patient=OuterRef("patient"))
        .exclude(status="draft")
        .order_by("-first_infusion_on", "-pk")
        .values("pk")[:1]
    )
    found = (
        Order.objects.filter(regimen="five_days_0_4g_per_kg", status="completed")
        .annotate(latest=Subquery(latest))
        .filter(pk=F("latest"))
        .annotate(results=Count("platelet_results", filter=Q(platelet_results__superseded_by__isnull=True)))
        .filter(results__gte=3)
        .order_by("pk")
        .values_list("patient_id", flat=True)
        .first()
    )
    if found is not None:
        return int(found)
    raise BenchError("no patient with a completed five-day course and three results: is the dataset built?")


def measure(requests: int, warmup: int) -> None:
    """Print, as one JSON line, the timings of every page, its query count and the SQL time of one request."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dashboards.selectors import CourseFilters, active_courses
    from infusions.models import Order, VitalSignsEntry
    from monitoring.models import PlateletCheck

    users = {
        role: get_user_model().objects.get(username=f"synth-{role}-1")
        for role in ("hematologist", "nurse", "pharmacist")
    }
    patient = pick_patient()
    clients = {}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    figures: dict[str, Any] = {
        "sizes": {
            "orders": Order.objects.count(),
            "checks": PlateletCheck.objects.count(),
            "vitals": VitalSignsEntry.objects.count(),
            "active courses": active_courses(users["hematologist"], CourseFilters()).count(),
        },
        "patient": patient,
        "pages": {},
    }
    for name, path, role in PAGES:
        url = path.format(patient=patient)
        client = clients[role]
        for _ in range(warmup):
            response = client.get(url)
            if response.status_code != 200:
                raise BenchError(f"GET {url} as {role} answered {response.status_code}")
        samples = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise BenchError(f"GET {url} as {role} answered {response.status_code}")
        # A separate, untimed request with the query log on (logging every query costs a little time itself).
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            client.get(url)
            logged_ms = (time.perf_counter() - began) * 1000
        queries = captured.captured_queries
        figures["pages"][name] = {
            "url": url,
            "p50": harness.percentile(samples, 0.50),
            "p95": harness.percentile(samples, 0.95),
            "queries": len(queries),
            "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
            "logged_ms": logged_ms,
            "slowest_sql": max(queries, key=lambda q: float(q["time"]))["sql"][:300] if queries else "",
            "slowest_sql_ms": max((float(q["time"]) for q in queries), default=0.0) * 1000,
        }
    print(json.dumps(figures))


# --- Environment, database, subprocesses ---------------------------------------------------------------------


def bench_env(var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **harness.django_env(
            database=BENCH_DB,
            broker_url=harness.redis_url(REDIS_DB),
            var_dir=var_dir,
            ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        ),
    }


@dataclass
class Scale:
    scale: float
    history_days: int
    build_s: float
    figures: dict[str, Any]


def run_scale(scale: float, history_days: int, env: dict[str, str], requests: int, warmup: int) -> Scale:
    python = str(harness.VENV_BIN / "python")
    print(f"\n== scale {scale:g}: ", end="")
    harness.recreate_database(BENCH_DB)
    harness.migrate_in_subprocess(env)
    print(f"building the synthetic dataset at --scale {scale:g} --history-days {history_days} ...", flush=True)
    began = time.perf_counter()
    out = harness.run(
        [python, str(DATASET_SCRIPT), "--scale", str(scale), "--history-days", str(history_days)],
        env,
        "benchmarks/synthetic_dataset.py",
        timeout=BUILD_TIMEOUT_S,
        show_stderr=True,
    )
    build_s = time.perf_counter() - began
    print(out.rstrip(), flush=True)
    print(f"build wall time (process start to exit): {build_s:.1f} s", flush=True)
    began = time.perf_counter()
    harness.admin_sql("VACUUM (ANALYZE)", BENCH_DB)
    print(f"VACUUM (ANALYZE): {time.perf_counter() - began:.1f} s; measuring {len(PAGES)} pages ...", flush=True)
    out = harness.run(
        [python, "-c", f"from benchmarks.dashboards import measure; measure({requests}, {warmup})"],
        env,
        "measuring",
        timeout=MEASURE_TIMEOUT_S,
    )
    return Scale(scale, history_days, build_s, json.loads(out.strip().splitlines()[-1]))


# --- Report -------------------------------------------------------------------------------------------------


def report(scales: list[Scale]) -> bool:
    small, full = scales[0], scales[-1]
    print()
    for s in scales:
        sizes = ", ".join(f"{k} {v:,}" for k, v in s.figures["sizes"].items())
        print(
            f"scale {s.scale:g} over {s.history_days} days: built in {s.build_s:.1f} s; {sizes}; "
            f"patient page: #{s.figures['patient']}"
        )
    print()
    widths = (34, 9, 9, 9, 9, 6, 8, 9, 8, 8, 8)
    a_, b_ = f"{small.scale:g}", f"{full.scale:g}"
    head = ("page", f"p50@{a_}", f"p95@{a_}", f"p50@{b_}", f"p95@{b_}", "ratio", "p50<150", "ratio<1.5", "queries")
    print(harness.row((*head, "sql ms", "sql ms"), widths))
    print(harness.row(("", "ms", "ms", "ms", "ms", "", "", "", "", f"@{a_}", f"@{b_}"), widths))
    all_met = True
    for name, _, _ in PAGES:
        a, b = small.figures["pages"][name], full.figures["pages"][name]
        ratio = b["p50"] / a["p50"] if a["p50"] else float("nan")
        fast = b["p50"] < TARGET_P50_MS
        flat = ratio < TARGET_RATIO
        all_met = all_met and fast and flat
        queries = f"{a['queries']}" if a["queries"] == b["queries"] else f"{a['queries']}/{b['queries']}"
        timings = (f"{a['p50']:.1f}", f"{a['p95']:.1f}", f"{b['p50']:.1f}", f"{b['p95']:.1f}", f"{ratio:.2f}")
        verdicts = ("yes" if fast else "NO", "yes" if flat else "NO", queries)
        print(harness.row((name, *timings, *verdicts, f"{a['sql_ms']:.1f}", f"{b['sql_ms']:.1f}"), widths))
    print(
        f"\ntargets: p50 < {TARGET_P50_MS:.0f} ms at scale {full.scale:g}; p50 ratio scale {full.scale:g} / "
        f"scale {small.scale:g} < {TARGET_RATIO}: {'all met' if all_met else 'NOT all met'}"
    )
    print("\nslowest query of one request per page at the largest scale:")
    for name, _, _ in PAGES:
        page = full.figures["pages"][name]
        print(f"  {name}: {page['slowest_sql_ms']:.1f} ms: {page['slowest_sql'][:160]}")
    return all_met


# --- Main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB} at the end")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first (default 3)")
    parser.add_argument(
        "--scales", default="0.1,1.0", help="comma-separated dataset scales, smallest first (default 0.1,1.0)"
    )
    parser.add_argument(
        "--same-workload",
        action="store_true",
        help="build smaller scales over proportionally fewer days: the same day's work, less history",
    )
    args = parser.parse_args(argv)
    try:
        args.scale_list = [float(s) for s in args.scales.split(",")]
    except ValueError:
        parser.error("--scales takes numbers, e.g. 0.1,1.0")
    if len(args.scale_list) < 2 or sorted(args.scale_list) != args.scale_list or min(args.scale_list) <= 0:
        parser.error("--scales needs at least two increasing positive scales")
    if not 1 <= args.requests <= 1000 or not 0 <= args.warmup <= 100:
        parser.error("keep it bounded: --requests 1..1000, --warmup 0..100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness.interrupt_on_sigterm()
    var_dir = harness.make_var_dir("ivig-bench-dash-")
    env = bench_env(var_dir)
    created = False
    try:
        harness.require_postgres()
        scales = []
        largest = args.scale_list[-1]
        for scale in args.scale_list:
            days = HISTORY_DAYS
            if args.same_workload:
                days = max(MIN_HISTORY_DAYS, round(HISTORY_DAYS * scale / largest))
            created = True
            scales.append(run_scale(scale, days, env, args.requests, args.warmup))
        report(scales)
        return 0
    except BenchError as exc:
        print(f"\nbenchmark setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if created and not args.keep:
            harness.drop_database(BENCH_DB)
        elif created:
            print(f"kept database {BENCH_DB} (DATABASE_URL={PG_SERVER}/{BENCH_DB})")
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    harness.ensure_venv(__file__)
    sys.exit(main())
