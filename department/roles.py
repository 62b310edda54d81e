"""The staff roles of SPEC §1: ids used as BPMN lane names, with Chinese and English titles."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from engine.domain import ADMIN, PROCESS_OWNER

# id → (中文 as written in the rule books, Traditional; English). Order is the SPEC's: front desk
# first, management, then the departments, then the two system roles.
_ROLES: dict[str, tuple[str, str]] = {
    "cs_assistant": ("客服助理 / 前台接待", "Customer-service assistant / Reception"),
    "cs_foreman": ("客服部領班", "Customer-service foreman"),
    "cs_supervisor": ("客服主管", "Customer-service supervisor"),
    "cs_manager": ("客服部經理", "Customer-service manager"),
    "general_manager": ("總經理", "General manager"),
    "project_manager": ("項目經理", "Project manager"),
    "night_duty": ("夜間值班", "Night duty"),
    "engineering_dispatcher": ("工程部調度", "Engineering dispatcher"),
    "technician": ("維修技工", "Maintenance technician"),
    "area_foreman": ("區域領班", "Area foreman"),
    "housekeeping": ("管家部", "Housekeeping"),
    "security_guard": ("保安員", "Security guard"),
    "cleaning_foreman": ("保潔領班", "Cleaning foreman"),
    "cleaner": ("保潔員", "Cleaner"),
    "process_owner": ("流程負責人", "Process owner"),
    "admin": ("系統管理員", "System administrator"),
}

# The UI speaks Simplified Chinese (zh); the rule books are Traditional, so both forms are kept.
_ROLES_ZH_HANS: dict[str, str] = {
    "cs_assistant": "客服助理 / 前台接待",
    "cs_foreman": "客服部领班",
    "cs_supervisor": "客服主管",
    "cs_manager": "客服部经理",
    "general_manager": "总经理",
    "project_manager": "项目经理",
    "night_duty": "夜间值班",
    "engineering_dispatcher": "工程部调度",
    "technician": "维修技工",
    "area_foreman": "区域领班",
    "housekeeping": "管家部",
    "security_guard": "保安员",
    "cleaning_foreman": "保洁领班",
    "cleaner": "保洁员",
    "process_owner": "流程负责人",
    "admin": "系统管理员",
}

ROLES: Final = MappingProxyType(_ROLES)
"""Ordered, read-only mapping role id → (Traditional Chinese title, English title)."""

ROLES_ZH_HANS: Final = MappingProxyType(_ROLES_ZH_HANS)
"""Role id → Simplified Chinese title, as shown in the zh UI."""

__all__ = ["ADMIN", "FOREMAN_OR_ABOVE", "OBSERVERS", "PROCESS_OWNER", "ROLES", "ROLES_ZH_HANS",
           "effective_roles", "is_known_role", "role_title"]

# 領班級以上: the lowest rank that may draw or approve hazardous goods (SPEC §1).
FOREMAN_OR_ABOVE: Final = frozenset({"cs_foreman", "cs_supervisor", "cs_manager"})

# Who may read every instance and its history (SPEC: admins inspect; managers read figures).
OBSERVERS: Final = frozenset({ADMIN, "cs_manager", "cs_supervisor", "general_manager", "project_manager"})


def is_known_role(role_id: str) -> bool:
    """Tell whether the id names one of the roles of SPEC §1."""
    return role_id in _ROLES


def role_title(role_id: str, locale: str = "zh") -> str:
    """Return the role's title for a UI locale (zh → Simplified, zh_Hant → Traditional, else English)."""
    if role_id not in _ROLES:
        return role_id
    lang = locale.replace("-", "_").lower()
    if lang in ("zh_hant", "zh_tw", "zh_hk"):
        return _ROLES[role_id][0]
    if lang.startswith("zh"):
        return _ROLES_ZH_HANS[role_id]
    return _ROLES[role_id][1]


def effective_roles(roles: frozenset[str] | set[str]) -> frozenset[str]:
    """Return held roles plus those they imply: supervisors and managers may act as cs_foreman.

    SPEC §3.4 says "foreman or above" (領班級以上); lanes name the lowest rank, so higher ranks
    see and may do those tasks without being given the foreman role by hand.
    """
    held = frozenset(roles)
    return held | {"cs_foreman"} if held & FOREMAN_OR_ABOVE else held
