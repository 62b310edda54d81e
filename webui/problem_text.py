"""Engine problem messages in the UI language: a Message is looked up by its English template."""

from __future__ import annotations

from flask_babel import force_locale, gettext

from engine.messages import Message


def problem_text(message: str, locale: str | None = None) -> str:
    """Return message in the active language (or in `locale`); text that is no Message is returned as is."""
    if locale is None:
        return _translated(message)
    # The API answers in the Accept-Language language, not the session's, so it names the locale.
    with force_locale(locale):
        return _translated(message)


def _translated(message: str) -> str:
    """Translate a Message's template and its Message parameters; fall back to the English text."""
    if not isinstance(message, Message):
        return message
    params = {name: _translated(value) if isinstance(value, Message) else value
              for name, value in message.params.items()}
    try:
        return gettext(message.template).format(**params)
    except (LookupError, ValueError):  # a translation naming a placeholder the template lacks
        return str(message)
