from __future__ import annotations

import pytest

from tests.factories import TEST_PASSWORD, authenticator_for, current_totp_code

pytestmark = pytest.mark.db


def test_anonymous_visitors_are_sent_to_the_login_page(client, db) -> None:
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/patients/")


def test_the_login_page_renders(client, db) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.parametrize(
    "role, landing, heading, asks_code",
    [
        ("nurse", "/nurse/", b"worklist", False),
        ("hematologist", "/hematology/", b"Response review", True),
        ("pharmacist", "/pharmacy/", b"Orders to verify", True),
    ],
)
def test_each_role_lands_on_its_own_page_after_login(client, role_user, role, landing, heading, asks_code) -> None:
    user = role_user(role, username=f"{role}-x")
    device = authenticator_for(user) if asks_code else None
    response = client.post("/login/", {"username": f"{role}-x", "password": TEST_PASSWORD}, follow=True)
    if device is not None:
        assert response.redirect_chain[-1][0] == "/account/two-factor/verify/?next=%2F"
        response = client.post(response.redirect_chain[-1][0], {"code": current_totp_code(device)}, follow=True)
    assert response.redirect_chain[-1][0] == landing
    assert heading in response.content


def test_a_role_cannot_open_another_roles_landing_page(client, nurse) -> None:
    client.force_login(nurse)
    assert client.get("/pharmacy/").status_code == 403


def test_logout_ends_the_session(client, nurse) -> None:
    client.force_login(nurse)
    assert client.post("/logout/").status_code == 302
    assert client.get("/nurse/").status_code == 302
