"""The role table of SPEC §1."""

from __future__ import annotations

from department.domain import DOMAIN
from department.roles import FOREMAN_OR_ABOVE, ROLES, ROLES_ZH_HANS


def test_seventeen_roles_in_spec_order_with_both_chinese_forms() -> None:
    assert len(ROLES) == 17
    assert next(iter(ROLES)) == "cs_assistant" and list(ROLES)[-1] == "admin"
    assert list(ROLES_ZH_HANS) == list(ROLES)
    assert ROLES["cs_foreman"] == ("客服部領班", "Customer-service foreman")
    assert ROLES_ZH_HANS["cs_foreman"] == "客服部领班"


def test_foreman_or_above() -> None:
    assert frozenset({"cs_foreman", "cs_supervisor", "cs_manager"}) == FOREMAN_OR_ABOVE
    assert set(ROLES) >= FOREMAN_OR_ABOVE


def test_known_roles_and_titles() -> None:
    is_known_role, role_title = DOMAIN.is_known_role, DOMAIN.role_title
    assert is_known_role("security_guard") and not is_known_role("janitor")
    assert role_title("cs_manager", "zh") == "客服部经理"
    assert role_title("cs_manager", "zh_Hant") == "客服部經理"
    assert role_title("cs_manager", "en") == "Customer-service manager"
    assert role_title("janitor", "zh") == "janitor"


def test_ranks_above_foreman_act_as_foreman() -> None:
    assert DOMAIN.effective_roles({"cs_manager"}) == {"cs_manager", "cs_foreman"}
    assert DOMAIN.effective_roles({"technician"}) == {"technician"}
    assert DOMAIN.acting_as("cs_foreman") == FOREMAN_OR_ABOVE
