"""Taps and seconds at the bedside: one set of vital signs, and one vial scanned by a keyboard-wedge scanner and
by the tablet's camera, on the ward tablet's 768x1024 touch screen.

Playwright drives Debian's chromium against gunicorn (production settings, PostgreSQL) on loopback. A tap is a
touch the nurse makes (a field, a button); keystrokes are what the nurse types. The seconds are the system's: from
the tap that submits (or the scanner's Enter, or the code coming into the camera's view) to the confirmation on
screen. The nurse's own typing is not the system's time and is not counted in them. Prints a table; asserts
nothing (benchmarks/README.md).

    .venv/bin/python benchmarks/bedside_taps.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import BenchError

BENCH_DB = harness.database_name("ivig_bench_taps")
REDIS_DB = 11
CHROMIUM = os.environ.get("IVIG_CHROMIUM", "/usr/bin/chromium")
GS = "\x1d"
GTIN = "07612345000107"  # GS1's test range: not a real product
PASSWORD = "bench-nurse-password-1"
READINGS = {
    "temperature_c": "36.8",
    "heart_rate_bpm": "72",
    "systolic_bp_mmhg": "120",
    "diastolic_bp_mmhg": "75",
    "respiratory_rate_per_min": "16",
    "spo2_percent": "98",
}


def seed(repeat: int) -> tuple[list[int], Callable[[int], str]]:
    """A nurse, and ``repeat`` + 1 verified orders of Gamunex-C with its demo GTIN, through the real services."""
    from django.utils import timezone

    from infusions import services
    from tests.factories import UserFactory, verified_order

    nurse = UserFactory(username="bench-nurse", role="nurse")
    nurse.set_password(PASSWORD)
    nurse.save()
    pharmacist = UserFactory(username="bench-pharmacist", role="pharmacist")
    orders = [verified_order() for _ in range(repeat + 1)]
    product = orders[0].product
    size = orders[0].vials_per_day[0]["size_g"]
    services.record_gtins(
        product_id=product.pk,
        user=pharmacist,
        gtins=[{"gtin": GTIN, "vial_size_g": size, "demo": True}],
        source="benchmark: not a real GTIN",
    )
    expiry = f"{timezone.localdate() + timedelta(days=200):%y%m%d}"
    infusions = [order.infusions.get().pk for order in orders]
    return infusions, lambda n: f"]d201{GTIN}17{expiry}10BENCH{n}{GS}21S{n}"


def measure(base_url: str, infusions: list[int], code: Callable[[int], str], repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    # The camera of the browser tests: a canvas stream showing the code ZXing's own writer draws.
    from tests.browser.test_vial_camera import FAKE_CAMERA, ZXING

    timings: dict[str, list[float]] = {"page": [], "vitals": [], "wedge": [], "camera": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else None,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True, base_url=base_url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login/")
        page.fill("#id_username", "bench-nurse")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        for n in range(repeat + 1):
            infusion = infusions[n]
            began = time.perf_counter()
            page.goto(f"/orders/infusions/{infusion}/")
            page.wait_for_selector("[data-testid=vitals-form]")
            page_ms = (time.perf_counter() - began) * 1000
            # One set of vital signs: a tap on each reading, its digits, and the tap on "Record".
            form = page.locator("[data-testid=vitals-form]")
            for name, value in READINGS.items():
                form.locator(f"[name={name}]").tap()
                page.keyboard.type(value)
            began = time.perf_counter()
            form.locator("button[type=submit]").tap()
            page.wait_for_selector("text=baseline taken")
            vitals_ms = (time.perf_counter() - began) * 1000
            # One vial by the keyboard-wedge scanner: a tap on the scan field, then the scanner types and sends Enter.
            page.locator("[data-testid=vial-scan]").tap()
            page.keyboard.insert_text(code(n))  # the scanner's burst of characters
            began = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_selector("[data-testid=vial-ok]")
            wedge_ms = (time.perf_counter() - began) * 1000
            # One vial by the camera: the tap that opens it, then the code held up to the lens.
            page.add_script_tag(path=str(ZXING))
            page.evaluate(FAKE_CAMERA)
            page.locator("[data-testid=vial-camera]").tap()
            page.wait_for_selector("[data-testid=vial-camera-video]", state="visible")
            page.wait_for_timeout(300)  # the camera warms up before the vial comes into view
            began = time.perf_counter()
            page.evaluate("value => window.showVial(value)", code(n + 1000).replace("]d2", GS))
            page.wait_for_function("document.querySelectorAll('[data-testid=vial-ok]').length === 2")
            camera_ms = (time.perf_counter() - began) * 1000
            page.locator("[data-vial-camera-close]").tap()
            if n == 0:
                continue  # the first round warms gunicorn, the browser's caches and ZXing
            timings["page"].append(page_ms)
            timings["vitals"].append(vitals_ms)
            timings["wedge"].append(wedge_ms)
            timings["camera"].append(camera_ms)
        browser.close()
    return timings


def report(timings: dict[str, list[float]], repeat: int) -> None:
    keystrokes = sum(len(value) for value in READINGS.values())
    rows = [
        ("bedside page load", "—", "—", timings["page"], "goto -> vitals form on screen"),
        (
            "one set of vital signs",
            f"{len(READINGS) + 1}",
            f"{keystrokes}",
            timings["vitals"],
            "tap Record -> panel back with the baseline",
        ),
        ("one vial, keyboard-wedge scanner", "1 (0 for the next)", "0", timings["wedge"], "Enter -> vial listed green"),
        ("one vial, camera", "1 (0 for the next)", "0", timings["camera"], "code in view -> vial listed green"),
    ]
    widths = (34, 19, 11, 8, 8, 44)
    print(
        f"\nBedside taps and seconds, {repeat} rounds at 768x1024 (gunicorn, PostgreSQL; load {harness.load_average()})"
    )
    print(harness.row(("action", "taps", "keystrokes", "p50 ms", "p95 ms", "system time measured"), widths))
    for name, taps, keys, samples, what in rows:
        p50 = f"{harness.percentile(samples, 0.5):.0f}"
        p95 = f"{harness.percentile(samples, 0.95):.0f}"
        print(harness.row((name, taps, keys, p50, p95, what), widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="measured rounds (1..200)")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 200:
        parser.error("--repeat 1..200")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    harness.interrupt_on_sigterm()
    var_dir = harness.make_var_dir("ivig-bench-taps-")
    port = harness.free_port()
    env = harness.django_env(
        database=BENCH_DB,
        broker_url=harness.redis_url(REDIS_DB),
        var_dir=var_dir,
        ALLOWED_HOSTS=harness.HOST,
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
    )
    gunicorn = None
    created = False
    try:
        harness.require_postgres()
        harness.recreate_database(BENCH_DB)
        created = True
        harness.migrate_in_subprocess(env)
        python = str(harness.VENV_BIN / "python")
        harness.run([python, "manage.py", "collectstatic", "--noinput", "-v0"], env, "collectstatic")
        os.environ.update(env)
        harness.setup_django()
        infusions, code = seed(args.repeat)
        log = var_dir / "gunicorn.log"
        gunicorn = harness.start_gunicorn(env, port, workers=2, log_path=log)
        harness.wait_until_serving(gunicorn, port, log)
        timings = measure(f"http://{harness.HOST}:{port}", infusions, code, args.repeat)
        report(timings, args.repeat)
        errors = harness.logged_errors(log)
        if errors:
            print("\ngunicorn logged errors:\n" + "\n".join(errors[-10:]))
        return 0
    except BenchError as exc:
        print(f"\nbenchmark setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if gunicorn is not None:
            harness.stop_process(gunicorn)
        if created:
            from django.db import connections

            connections.close_all()
            harness.drop_database(BENCH_DB)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    harness.ensure_venv(__file__)
    sys.exit(main())
