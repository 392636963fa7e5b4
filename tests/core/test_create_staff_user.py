from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.db


def test_it_creates_a_user_with_the_role(db, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase\n"))
    call_command("create_staff_user", "jdoe", "--role", "pharmacist", "--email", "j@h.org", "--password-stdin")
    user = get_user_model().objects.get(username="jdoe")
    assert list(user.groups.values_list("name", flat=True)) == ["pharmacist"]
    assert user.check_password("a-long-enough-passphrase")
    assert not user.is_staff


def test_a_weak_password_is_refused_and_no_user_is_created(db, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="Password rejected"):
        call_command("create_staff_user", "weak", "--role", "nurse", "--password-stdin")
    assert not get_user_model().objects.filter(username="weak").exists()


def test_an_unknown_role_is_refused(db) -> None:
    with pytest.raises(CommandError):
        call_command("create_staff_user", "x", "--role", "surgeon", "--password-stdin")
