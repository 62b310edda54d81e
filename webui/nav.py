"""The top-bar navigation: which areas exist and which roles see them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from department.roles import ADMIN, FOREMAN_OR_ABOVE, PROCESS_OWNER

_MANAGEMENT = frozenset({"cs_supervisor", "cs_manager", "general_manager", "project_manager"})


@dataclass(frozen=True)
class NavItem:
    """One top-bar link; `roles` empty means every signed-in user."""

    path: str
    label: object  # a lazy string, translated when rendered
    roles: frozenset[str] = frozenset()


# Areas are found by URL path rather than endpoint name so the blueprints that serve them can be
# added (or renamed) independently; an area whose path has no route yet is simply not shown.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/inbox", _l("Inbox")),
    NavItem("/start", _l("Start")),
    # Everyone: managers see every case, others the ones they started or work on ("where is my repair?").
    NavItem("/instances", lazy_pgettext("menu", "Cases")),
    NavItem("/models", _l("Models"), frozenset({ADMIN, PROCESS_OWNER})),
    NavItem("/figures", _l("Figures"), frozenset({ADMIN}) | _MANAGEMENT),
    NavItem("/registers", _l("Registers"),
            frozenset({ADMIN, "cleaning_foreman", "general_manager", "project_manager"}) | FOREMAN_OR_ABOVE),
    NavItem("/quality", _l("Quality"),  # issue 14: the quality registers
            frozenset({ADMIN, "quality_specialist", "general_manager", "project_manager"})
            | FOREMAN_OR_ABOVE),
    NavItem("/notifications/admin", _l("Notification channels"), frozenset({ADMIN})),
)


def route_exists(path: str) -> bool:
    """Tell whether some route answers GET on this path."""
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except RequestRedirect:
        return True  # e.g. /inbox → /inbox/
    except (NotFound, MethodNotAllowed):
        return False
    return True


def visible_nav_items() -> list[tuple[NavItem, bool]]:
    """Return the items the current user may use, each with whether it is the current area."""
    if not current_user.is_authenticated:
        return []
    roles: frozenset[str] = current_user.roles
    items = []
    for item in NAV_ITEMS:
        if item.roles and roles.isdisjoint(item.roles):
            continue
        if not route_exists(item.path):
            continue
        active = request.path == item.path or request.path.startswith(item.path + "/")
        items.append((item, active))
    return items
