"""The reasons a form value is refused: message codes with their English and Chinese texts."""

from __future__ import annotations

from typing import Any

from engine.errors import FieldMessage

# One class for field reasons across the engine, so InvalidData renders them without conversion.
Message = FieldMessage

# code → (English, simplified Chinese); {placeholders} are filled per language by `message`.
_TEXTS: dict[str, tuple[str, str]] = {
    "required": ("This field is required.", "此项为必填"),
    "unknown_field": ("This field is not part of the form.", "表单中没有此项"),
    "invalid_text": ("Enter text.", "请输入文字"),
    "invalid_integer": ("Enter a whole number.", "请输入整数"),
    "invalid_number": ("Enter a number.", "请输入数字"),
    "invalid_boolean": ("Choose yes or no.", "请选择是或否"),
    "invalid_choice": ("Choose one of the listed options.", "请从选项中选择"),
    "invalid_date": ("Enter a date as YYYY-MM-DD.", "请输入日期（YYYY-MM-DD）"),
    "invalid_datetime": ("Enter a date and time, e.g. 2024-05-01T14:30.",
                         "请输入日期和时间，例如 2024-05-01T14:30"),
    "invalid_phone": ("Enter a phone number: digits, optionally with +, spaces or dashes.",
                      "请输入电话号码（数字，可含 +、空格或短横线）"),
    "invalid_user": ("Enter a username.", "请输入用户名"),
    "too_long": ("Enter at most {limit} characters.", "最多 {limit} 个字符"),
    "too_small": ("Must be at least {limit}.", "不得小于 {limit}"),
    "too_large": ("Must be at most {limit}.", "不得大于 {limit}"),
    "too_precise": ("Enter at most {limit} decimal places.", "最多 {limit} 位小数"),
    "too_early": ("Must not be before {limit}.", "不得早于 {limit}"),
    "too_late": ("Must not be after {limit}.", "不得晚于 {limit}"),
    "unknown_user": ("There is no user with this username.", "没有此用户"),
    "missing_role": ("This user does not hold the role {role}.", "该用户没有 {role} 角色"),
    "not_distinct": ("Must be a different person from {other}.", "不能与{other}为同一人"),
    "rule_error": ("The check could not be evaluated: {error}", "无法完成校验：{error}"),
}


def message(code: str, **params: Any) -> Message:
    """Return the message for code; a (en, zh) tuple parameter is filled per language."""
    en, zh = _TEXTS[code]
    en_params = {k: v[0] if isinstance(v, tuple) else v for k, v in params.items()}
    zh_params = {k: v[1] if isinstance(v, tuple) else v for k, v in params.items()}
    return Message(code, en.format(**en_params), zh.format(**zh_params))
