"""UI languages: which locales exist and how the current one is chosen."""

from __future__ import annotations

from flask import session
from flask_babel import get_locale
from flask_login import current_user

from engine import domain

# zh is Simplified Chinese, the department's working language; en for visitors and developers.
SUPPORTED_LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
LOCALE_LABELS = {"zh": "中文", "en": "English"}
HTML_LANG = {"zh": "zh-Hans", "en": "en"}
SESSION_KEY = "lang"


def select_locale() -> str:
    """Choose the locale: the session's choice, else the user's saved one, else Chinese."""
    chosen = session.get(SESSION_KEY)
    if chosen in SUPPORTED_LOCALES:
        return str(chosen)
    saved = getattr(current_user, "locale", None) if current_user.is_authenticated else None
    if saved in SUPPORTED_LOCALES:
        return str(saved)
    return DEFAULT_LOCALE


def current_locale() -> str:
    """Return the active locale code (zh or en)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LOCALE


def localized_role(role_id: str) -> str:
    """Return the role's title in the active language."""
    return domain.current().role_title(role_id, current_locale())
