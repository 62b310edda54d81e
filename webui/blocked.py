"""Why a person may not do a task, in their words, and who may: shown before any typing."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask_babel import force_locale
from flask_babel import gettext as _

from engine.store.eligibility import Block

from .display import person
from .i18n import localized_role


def reason(block: Block, names: Mapping[str, str] | None = None,
           step_title: Callable[[str], str] | None = None) -> str:
    """Return the sentence explaining a block in the active language."""
    code, detail = block.code, block.detail
    if code == "closed":
        return _("This task is no longer needed: the case has moved on or was ended.") \
            if detail == "cancelled" else _("This task has already been completed.")
    if code == "case_suspended":
        return _("The case is suspended. This task can be done once an administrator resumes it.")
    if code == "case_error":
        return _("The case stopped at an error. An administrator must retry it before work can go on.")
    if code == "case_ended":
        return _("The case has ended.")
    if code == "role":
        return _("This task is for the role %(role)s, which you do not hold.", role=localized_role(detail))
    if code == "assigned":
        return _("This task is assigned to %(name)s; only they can do it.", name=person(names or {}, detail))
    if code == "not_starter":
        return _("You started this case; the rules need someone else for this step "
                 "(whoever made a request may not approve it).")
    title = step_title(detail) if step_title is not None else detail
    return _("You did “%(step)s” in this case; the rules need someone else for this step.", step=title)


def reason_in(locale: str, block: Block | None, names: Mapping[str, str] | None = None,
              step_title: Callable[[str], str] | None = None) -> str | None:
    """Return the sentence in a given locale (the API's Accept-Language), None when not blocked."""
    if block is None:
        return None
    with force_locale(locale):
        return reason(block, names, step_title)
