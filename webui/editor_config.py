"""What the editor's script needs from the server: roles, the language and its own labels."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from engine import domain

from .display import pick
from .i18n import current_locale

# English texts of the modeler, properties panel and bpmnlint that the page translates (diagram-js translate).
LIBRARY_TEXTS = {
    "General": lazy_gettext("General"),
    "Token Simulation": lazy_gettext("Token Simulation"),
    # Element kinds the properties panel names in its header.
    "User Task": lazy_gettext("User Task"),
    "Script Task": lazy_gettext("Script Task"),
    "Service Task": lazy_gettext("Service Task"),
    "Start Event": lazy_gettext("Start Event"),
    "End Event": lazy_gettext("End Event"),
    "Exclusive Gateway": lazy_gettext("Exclusive Gateway"),
    "Parallel Gateway": lazy_gettext("Parallel Gateway"),
    "Inclusive Gateway": lazy_gettext("Inclusive Gateway"),
    "Timer Boundary Event": lazy_gettext("Timer Boundary Event"),
    "Timer Boundary Event (Non Interrupting)": lazy_gettext("Timer Boundary Event (Non Interrupting)"),
    "Timer Intermediate Catch Event": lazy_gettext("Timer Intermediate Catch Event"),
    "Sequence Flow": lazy_gettext("Sequence Flow"),
    "Conditional Flow": lazy_gettext("Conditional Flow"),
    "Default Flow": lazy_gettext("Default Flow"),
    "Lane": lazy_gettext("Lane"),
    "Participant": lazy_gettext("Participant"),
    "Collaboration": lazy_gettext("Collaboration"),
    "Task": lazy_gettext("Task"),
    "Process": lazy_gettext("Process"),
    "Name": lazy_gettext("Name"),
    "ID": lazy_gettext("ID"),
    "Documentation": lazy_gettext("Documentation"),
    "Element documentation": lazy_gettext("Element documentation"),
    "Element is not connected": lazy_gettext("Element is not connected"),
    "Flow splits implicitly": lazy_gettext("Flow splits implicitly"),
    "Sequence flow is missing condition": lazy_gettext("Sequence flow is missing condition"),
    "Duplicate outgoing sequence flows": lazy_gettext("Duplicate outgoing sequence flows"),
    "Duplicate incoming sequence flows": lazy_gettext("Duplicate incoming sequence flows"),
    "Process is missing end event": lazy_gettext("Process is missing end event"),
    "Process is missing start event": lazy_gettext("Process is missing start event"),
}

FIELD_TYPES = ("text", "textarea", "integer", "number", "boolean", "choice", "date", "datetime", "user",
               "phone")


def lane_name(role_id: str) -> str:
    """Return the lane name the editor writes for a role: its Chinese title, then its id."""
    return f"{domain.current().role_title(role_id, 'zh')} {role_id}"


def editor_config() -> dict[str, Any]:
    """Return the editor's configuration (roles, language, labels), embedded in the page as JSON."""
    roles = [{"id": r.id, "title": pick(r.zh, r.en), "lane": lane_name(r.id)} for r in domain.current().roles]
    text = {
        "groupLabel": _("Process settings"),
        "titleEn": _("English title"),
        "laneRole": _("Lane role"),
        "laneRoleHelp": _("Everyone holding this role is offered the lane's tasks."),
        "chooseRole": _("Choose a role"),
        "starters": _("Who may start (role ids)"),
        "startersHelp": _("Space-separated role ids; empty: any signed-in staff."),
        "assignee": _("Assignee (expression giving a username)"),
        "assigneeHelp": _("e.g. technician, or performed_by['approve']; empty: anyone in the lane's role"),
        "roleExpr": _("Role chosen at run time (expression)"),
        "roleExprHelp": _("Replaces the lane's role when set."),
        "notStarter": _("The starter may not do this task"),
        "notPerformerOf": _("Not whoever did these tasks (task ids)"),
        "timerKind": _("Deadline kind"),
        "timeDuration": _("A duration (e.g. PT15M, 15 minutes)"),
        "timeDate": _("A moment (e.g. working_hours(24))"),
        "timeCycle": _("Repeating"),
        "timerValue": _("Deadline"),
        "condition": _("Condition (Python)"),
        "conditionHelp": _("e.g. paid == True; form fields are variables"),
        "script": _("Script (Python)"),
        "scriptHelp": _("Runs in the sandbox; variables are the case's data."),
        "outcome": _("Outcome"),
        "name": _("Name"),
        "type": _("Type"),
        "labelZh": _("Label (Chinese)"),
        "labelEn": _("Label (English)"),
        "required": _("Required"),
        "more": _("More"),
        "up": _("Move up"),
        "down": _("Move down"),
        "remove": _("Remove"),
        "options": _("Options"),
        "addOption": _("Add an option"),
        "value": _("Value"),
        "requiredWhen": _("Required when (expression)"),
        "min": _("Minimum"),
        "max": _("Maximum"),
        "maxLength": _("Most characters"),
        "role": _("Role (user fields)"),
        "helpZh": _("Help (Chinese)"),
        "helpEn": _("Help (English)"),
        "default": _("Default"),
        "decimals": _("Decimal places"),
        "rule": _("Rule"),
        "distinct": _("Distinct users"),
        "field": _("Field"),
        "expr": _("Expression"),
        "fields": _("Fields (names)"),
        "messageZh": _("Message (Chinese)"),
        "messageEn": _("Message (English)"),
        # bpmnlint issues are listed by element title; a flow without a name by its ends.
        "flowFrom": _("the flow from %(source)s to %(target)s", source="{source}", target="{target}"),
    }
    translations = {english: str(text) for english, text in LIBRARY_TEXTS.items()}
    return {
        "roles": roles,
        "lang": current_locale(),
        "text": text,
        "fieldTypes": list(FIELD_TYPES),
        "translations": translations,
    }
