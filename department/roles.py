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
    # Seed 003 四 第5、10條: 售後服務專員 / 服務質量管理專員 checks service quality and opens 異常處理單.
    "quality_specialist": ("服務質量管理專員", "Service quality specialist"),
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
    "quality_specialist": "服务质量管理专员",
    "process_owner": "流程负责人",
    "admin": "系统管理员",
}

ROLES: Final = MappingProxyType(_ROLES)
"""Ordered, read-only mapping role id → (Traditional Chinese title, English title)."""

ROLES_ZH_HANS: Final = MappingProxyType(_ROLES_ZH_HANS)
"""Role id → Simplified Chinese title, as shown in the zh UI."""

# The titles, implied ranks and observers become the department's `Domain` (department.domain); the
# engine and the web app ask the installed domain, so the rules are written once.
__all__ = ["ADMIN", "FOREMAN_OR_ABOVE", "OBSERVERS", "PROCESS_OWNER", "ROLES", "ROLES_ZH_HANS"]

# 領班級以上: the lowest rank that may draw or approve hazardous goods (SPEC §1).
FOREMAN_OR_ABOVE: Final = frozenset({"cs_foreman", "cs_supervisor", "cs_manager"})

# Who may read every instance and its history (SPEC: admins inspect; managers read figures).
OBSERVERS: Final = frozenset({ADMIN, "cs_manager", "cs_supervisor", "general_manager", "project_manager"})

