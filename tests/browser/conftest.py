"""Playwright driving Debian's chromium against the live test server. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM
from tests.factories import TEST_PASSWORD, authenticator_for, current_totp_code

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Playwright's sync API runs an event loop in the test thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if os.path.exists(CHROMIUM) else "chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def tablet(chromium_browser: Any, live_server: Any) -> Iterator[Any]:
    """A 768 px wide touch screen, the size of the ward tablets."""
    context = chromium_browser.new_context(
        viewport={"width": 768, "height": 1024}, has_touch=True, base_url=live_server.url
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def authenticator_of(username: str) -> Any:
    """The authenticator app of an account that must use two-factor sign-in, set up as the user would have done on
    an earlier day; None for the others."""
    from django.contrib.auth import get_user_model

    from core.two_factor import must_use_two_factor

    user = get_user_model().objects.get(username=username)
    return authenticator_for(user) if must_use_two_factor(user) else None


def sign_in_page(page: Any, username: str, password: str) -> None:
    """Signs in through the real pages: the password, then the authenticator's code when the role must give one."""
    device = authenticator_of(username)
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    if device is not None:
        page.fill("#id_code", current_totp_code(device))
        page.click("main button[type=submit]")  # the header's "Sign out" is a submit button too
        page.wait_for_load_state("networkidle")


@pytest.fixture
def login(live_server: Any) -> Callable[[Any, str], None]:
    def sign_in(page: Any, username: str) -> None:
        sign_in_page(page, username, TEST_PASSWORD)

    return sign_in


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def assert_no_horizontal_scroll(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page scrolls horizontally by {overflow}px at {page.viewport_size['width']}px"
