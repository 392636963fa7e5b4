"""What every benchmark script shares: the virtualenv, the environment it runs the project with, a database made
afresh and dropped afterwards, Django set up in process, the processes it starts (gunicorn, a Celery worker), CPU
accounting from ``/proc``, percentiles and table rows.

Standard library only at import time: psycopg, redis, Django and Celery are imported inside the functions that
need them, so a script can import this module before it has re-run itself under the virtualenv.

Everything talks to loopback only (``HOST``). Two environment variables let several people (or worktrees) run
the benchmarks on one machine without colliding: ``IVIG_BENCH_DB_SUFFIX`` is appended to every benchmark database
name, and ``IVIG_BENCH_REDIS_DB`` replaces the Redis database number a script would use (and flush).
"""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
HOST = "127.0.0.1"  # loopback only: the benchmarks never talk to another machine
PG_PORT = 5432
REDIS_PORT = 6379
PG_SERVER = f"postgres://postgres@{HOST}:{PG_PORT}"


class BenchError(RuntimeError):
    """A setup step failed; the message says which and why."""


# --- Interpreter, names, environment -------------------------------------------------------------------------


def ensure_venv(script: str) -> None:
    """Re-run ``script`` under the project's virtualenv (Django, psycopg, Celery...) unless already there."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV_BIN / "python"
    if not python.exists():
        raise SystemExit(f"no virtualenv at {VENV}: run `make venv` first")
    os.execv(python, [str(python), str(Path(script).resolve()), *sys.argv[1:]])


def require_executable(name: str) -> Path:
    path = VENV_BIN / name
    if not path.exists():
        raise BenchError(f"no {name} in the virtualenv ({VENV_BIN}): run `make venv` first")
    return path


def database_name(base: str) -> str:
    """The benchmark's database, with ``IVIG_BENCH_DB_SUFFIX`` appended (letters, digits and ``_`` only)."""
    suffix = os.environ.get("IVIG_BENCH_DB_SUFFIX", "")
    if suffix and not suffix.replace("_", "").isalnum():
        raise SystemExit(f"IVIG_BENCH_DB_SUFFIX must be letters, digits and _ only, not {suffix!r}")
    return base + suffix


def redis_url(default_db: int) -> str:
    """Redis on loopback, on the script's own database number unless ``IVIG_BENCH_REDIS_DB`` says another."""
    number = os.environ.get("IVIG_BENCH_REDIS_DB", str(default_db))
    if not number.isdigit() or int(number) in (0, 7):
        # 0 is everyone's default and 7 belongs to other work on shared machines; a benchmark may flush its own.
        raise SystemExit(f"IVIG_BENCH_REDIS_DB must be a database number other than 0 and 7, not {number!r}")
    return f"redis://{HOST}:{REDIS_PORT}/{number}"


def make_var_dir(prefix: str) -> Path:
    """A temporary folder for ``IVIG_VAR_DIR``: the settings create folders there, never in the checkout."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def django_env(
    *, database: str, broker_url: str, var_dir: Path, settings: str = "ivig_tracker.settings", **extra: str
) -> dict[str, str]:
    """The variables the project runs with in a benchmark: production-like (DEBUG off), on ``database``."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": f"{PG_SERVER}/{database}",
        "SECRET_KEY": "bench",
        "DJANGO_DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "CELERY_BROKER_URL": broker_url,
        "IVIG_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        # The throttles stay on the request path (a cache read and write per API request, on Redis as deployed), at
        # rates a load generator's few tokens cannot reach: a benchmark measures capacity, not the throttle.
        **({"CACHE_URL": broker_url} if broker_url.startswith("redis") else {}),
        "IVIG_API_THROTTLE_USER": "1000000/minute",
        "IVIG_API_THROTTLE_ANON": "1000000/minute",
        **extra,
    }


def setup_django(settings: str = "ivig_tracker.settings") -> None:
    """Set Django up in this process (once; a second call, or one under pytest-django, does nothing)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def interrupt_on_sigterm() -> None:
    """SIGTERM takes the same path as Ctrl-C, so a script's ``finally`` block cleans up either way."""

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


# --- Services, ports, subprocesses ---------------------------------------------------------------------------


def require_port(port: int, service: str) -> None:
    try:
        socket.create_connection((HOST, port), timeout=3).close()
    except OSError as exc:
        raise BenchError(f"{service} is not answering at {HOST}:{port} ({exc})") from exc


def require_postgres() -> None:
    require_port(PG_PORT, "PostgreSQL")


def require_redis() -> None:
    require_port(REDIS_PORT, "Redis")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run(command: list[str], env: dict[str, str], what: str, timeout: float = 300, show_stderr: bool = False) -> str:
    """Run a command in the project folder; its stdout, or BenchError with the end of its stderr."""
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            # show_stderr: progress bars go straight to this terminal; otherwise errors are captured for the message.
            stderr=None if show_stderr else subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        detail = "" if show_stderr else f":\n{(done.stderr or '').strip()[-3000:]}"
        raise BenchError(f"{what} failed (exit {done.returncode}){detail}")
    return done.stdout


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 15) -> float | None:
    """SIGTERM (a graceful stop), then SIGKILL to its whole session after ``timeout``; the seconds it took to stop
    on SIGTERM, or None when it had to be killed. The process must have been started with a session of its own."""
    if process.poll() is not None:
        return 0.0
    started = time.perf_counter()
    process.terminate()
    try:
        process.wait(timeout=timeout)
        return time.perf_counter() - started
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own group: worker children go with it
        process.wait(timeout=10)
        return None


# --- PostgreSQL and Redis ------------------------------------------------------------------------------------


def admin_sql(statement: str, database: str = "postgres") -> None:
    import psycopg

    # Autocommit: CREATE/DROP DATABASE and VACUUM cannot run inside a transaction block.
    with psycopg.connect(f"{PG_SERVER}/{database}", autocommit=True) as connection:
        connection.execute(statement)  # type: ignore[arg-type]  # psycopg wants a literal; these are fixed


def recreate_database(name: str) -> None:
    print(f"database {name}: re-creating and migrating ...", flush=True)
    admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {name}")


def drop_database(name: str) -> None:
    """Drop the benchmark's database at the end; a failure is reported, never raised (cleanup carries on)."""
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()
    try:
        admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except Exception as exc:  # noqa: BLE001  # cleanup must not hide the real outcome
        print(f"could not drop {name}: {exc}", file=sys.stderr)


def migrate_in_subprocess(env: dict[str, str]) -> None:
    run([str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput"], env, "manage.py migrate", timeout=600)


def migrate_in_process() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# --- gunicorn ------------------------------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], port: int, workers: int, log_path: Path) -> subprocess.Popen[bytes]:
    """gunicorn with ``workers`` sync workers serving the project's WSGI application on loopback."""
    command = [
        str(require_executable("gunicorn")),
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
        # A session of its own: Ctrl-C reaches only the script, which then stops gunicorn in order.
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


def logged_errors(log_path: Path) -> list[str]:
    """gunicorn's ``[ERROR]`` and ``[CRITICAL]`` lines."""
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line]


# --- Celery worker -------------------------------------------------------------------------------------------

WORKER_READY_TIMEOUT_S = 60.0


def start_celery_worker(node: str, log_path: Path, concurrency: int = 1) -> subprocess.Popen[bytes]:
    """A Celery worker subprocess with this process's environment (``os.environ``)."""
    command = [
        str(require_executable("celery")),
        "-A",
        "ivig_tracker",
        "worker",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
        "-n",
        node,
    ]
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only the script, which then stops the worker in order.
        return subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for_celery_worker(worker: subprocess.Popen[bytes], node: str, log_path: Path) -> None:
    """Pong from our node: its consumer is listening, so the first messages are taken at once."""
    from ivig_tracker.celery import app

    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise BenchError(f"the Celery worker exited with {worker.returncode}:\n{tail(log_path)}")
        replies = app.control.ping(destination=[node], timeout=1.0) or []
        if any(node in reply for reply in replies):
            return
    raise BenchError(f"the Celery worker did not answer a ping within {WORKER_READY_TIMEOUT_S:.0f} s")


def stop_celery_worker(worker: subprocess.Popen[bytes]) -> None:
    stop_process(worker, timeout=30)  # SIGTERM: warm shutdown, the task in hand finishes (acks_late)


# --- CPU accounting (Linux /proc; elsewhere empty) -----------------------------------------------------------


CpuSnapshot = dict[str, dict[int, float]]  # group -> pid -> CPU seconds used so far


def cpu_snapshot(tree_pid: int) -> CpuSnapshot:
    """CPU seconds used so far, per process, by ``tree_pid`` and its children (``tree``), every PostgreSQL process
    (``postgres``), and this process (``self``); empty where there is no ``/proc``.

    On a machine where client, server and database share the CPUs, a request rate is roughly the inverse of the CPU
    all three spend per request; this shows where the requests spend it.
    """
    proc = Path("/proc")
    if not (proc / str(tree_pid) / "stat").exists():
        return {}
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    tree: dict[int, float] = {}
    postgres: dict[int, float] = {}
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
        if int(entry.name) == tree_pid or parent == tree_pid:
            tree[int(entry.name)] = used
        elif command == "postgres":
            postgres[int(entry.name)] = used
    own = os.times()
    return {"tree": tree, "postgres": postgres, "self": {os.getpid(): own.user + own.system}}


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots, process by process: a process that started in between counts
    from zero, one that ended in between is left out (its last seconds are lost, never subtracted)."""
    return {
        group: sum(used - before[group].get(pid, 0.0) for pid, used in after[group].items())
        for group in after.keys() & before.keys()
    }


# --- Figures and tables --------------------------------------------------------------------------------------


def percentile(samples: Iterable[float], fraction: float) -> float:
    """Nearest rank: the smallest sample that at least ``fraction`` of the samples do not exceed; NaN if none."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One table line: the first cell left-aligned, the others right-aligned, one space between columns."""
    first, *others = cells
    aligned = (f"{cell:>{width}}" for cell, width in zip(others, widths[1:], strict=True))
    return " ".join([f"{first:<{widths[0]}}", *aligned])


# --- Seeding -------------------------------------------------------------------------------------------------


def record_pre_course_labs(patient_id: int, user: object, collected_at: object) -> None:
    """A creatinine and blood group O+ at ``collected_at``, through the service: what a patient sent for a 1 g/kg
    course of IVIG has before its order is verified (docs/clinical-rules.md §A9 renal_labs_missing,
    hemolysis_labs_missing; group O at 1 g/kg owes no pre-course hemoglobin). Take a time before the first
    infusion the script records."""
    from patients import services

    services.record_lab_result(
        patient_id=patient_id, user=user, test="creatinine", value="80", unit="umol/L", collected_at=collected_at
    )
    services.record_lab_result(
        patient_id=patient_id, user=user, test="blood_group", value="O+", collected_at=collected_at
    )
