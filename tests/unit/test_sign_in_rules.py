from __future__ import annotations

import pytest

from core.sign_in_rules import (
    SignInConfigError,
    idp_did_mfa,
    parse_group_roles,
    parse_two_factor_roles,
    roles_for_groups,
    two_factor_required,
)

pytestmark = pytest.mark.unit

DEFAULT_ROLES = frozenset({"hematologist", "pharmacist", "admin"})


@pytest.mark.parametrize(
    "roles, is_staff, is_superuser, required",
    [
        ({"pharmacist"}, False, False, True),
        ({"hematologist"}, False, False, True),
        ({"nurse"}, False, False, False),
        ({"nurse", "pharmacist"}, False, False, True),
        (set(), True, False, True),  # IT staff opening the admin
        (set(), False, True, True),
        (set(), False, False, False),  # an interface account: permissions, no role, not staff
    ],
)
def test_the_default_roles_that_must_use_a_second_factor(roles, is_staff, is_superuser, required) -> None:
    assert (
        two_factor_required(roles=roles, is_staff=is_staff, is_superuser=is_superuser, required_roles=DEFAULT_ROLES)
        is required
    )


def test_a_hospital_may_require_it_of_nurses_too() -> None:
    required = parse_two_factor_roles(["nurse", "hematologist", "pharmacist", "admin"])
    assert two_factor_required(roles={"nurse"}, is_staff=False, is_superuser=False, required_roles=required)


def test_staff_are_not_asked_when_admin_is_left_out_of_the_setting() -> None:
    required = parse_two_factor_roles(["pharmacist"])
    assert not two_factor_required(roles=set(), is_staff=True, is_superuser=True, required_roles=required)


def test_an_unknown_two_factor_role_is_refused_by_name() -> None:
    with pytest.raises(SignInConfigError, match="unknown role.*surgeon"):
        parse_two_factor_roles(["pharmacist", "surgeon"])


def test_group_role_pairs_are_parsed_and_several_groups_may_give_one_role() -> None:
    assert parse_group_roles("ivig-nurses=nurse, ward-7=nurse,ivig-haem=Hematologist") == {
        "ivig-nurses": "nurse",
        "ward-7": "nurse",
        "ivig-haem": "hematologist",
    }


@pytest.mark.parametrize(
    "raw, message",
    [
        ("ivig-nurses", "is not group=role"),
        ("=nurse", "is not group=role"),
        ("ivig-nurses=surgeon", "names no clinical role"),
        ("ivig-nurses=nurse,,x=pharmacist", "an empty item"),
        ("g=nurse,g=pharmacist", "mapped to both nurse and pharmacist"),
        ("it-admins=admin", "names no clinical role"),
    ],
)
def test_a_malformed_group_mapping_is_refused_with_the_reason(raw, message) -> None:
    with pytest.raises(SignInConfigError, match=message):
        parse_group_roles(raw)


MAPPING = {"ivig-nurses": "nurse", "ivig-haem": "hematologist", "ivig-pharm": "pharmacist"}


@pytest.mark.parametrize(
    "groups, roles",
    [
        (["ivig-haem", "all-staff"], {"hematologist"}),
        (["ivig-nurses", "ivig-pharm"], {"nurse", "pharmacist"}),
        (["all-staff"], set()),
        ([], set()),
        ("ivig-pharm", {"pharmacist"}),  # one group sent as a bare string
        (None, set()),  # no groups claim at all
        ({"ivig-haem": True}, set()),  # not a list: nothing is guessed
        (["IVIG-HAEM"], set()),  # compared exactly, as the provider sends them
    ],
)
def test_the_groups_claim_gives_only_the_mapped_roles(groups, roles) -> None:
    assert roles_for_groups(groups, MAPPING) == roles


@pytest.mark.parametrize(
    "amr, did_mfa",
    [
        (["pwd", "mfa"], True),
        (["pwd"], False),
        (["pwd", "otp"], False),  # not among the accepted methods by default
        ("mfa", True),
        (None, False),
        ([], False),
    ],
)
def test_the_providers_amr_claim_says_whether_it_did_mfa(amr, did_mfa) -> None:
    assert idp_did_mfa(amr, ["mfa"]) is did_mfa


def test_a_hospital_may_accept_other_amr_methods() -> None:
    assert idp_did_mfa(["pwd", "hwk"], ["mfa", "hwk"])
