"""Message bodies: generic JSON, WeCom and DingTalk group-robot messages, and e-mail."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from engine.notify.models import Notification

FORMATS = ("generic", "wecom", "dingtalk")
EVENT_WORDS = {  # the subject line's first words, zh / en
    "task_assigned": ("新任务", "New task for you"), "task_ready": ("待领取任务", "Task for your role"),
    "task_claimed": ("任务已被领取", "Task taken"),
    "task_reassigned": ("任务转派给您", "Task reassigned to you"),
    "deadline_near": ("即将到期", "Deadline near"), "escalation": ("已超时升级", "Overdue, escalated"),
    "instance_ended": ("工单已办结", "Case closed"), "instance_rejected": ("工单被驳回", "Case rejected"),
    "process": ("通知", "Notice"),
}


def link(note: Notification, base_url: str) -> str:
    """Return the absolute link to the page the notification is about."""
    return base_url.rstrip("/") + note.path if note.path else base_url


def headline(note: Notification, lang: str = "zh") -> str:
    """Return a one-line summary in Chinese or English."""
    zh, en = EVENT_WORDS.get(note.event, (note.event, note.event))
    if lang == "en":
        return f"{en}: {note.title_en or note.title_zh}"
    return f"{zh}：{note.title_zh}"


def generic(note: Notification, base_url: str) -> dict[str, Any]:
    """Return the generic JSON body."""
    return {
        "id": note.id, "event": note.event, "urgent": note.urgent, "task_id": note.task_id,
        "instance_id": note.instance_id, "element_id": note.element_id, "title": note.title_zh,
        "title_en": note.title_en, "message": note.message_zh, "role": note.role, "assignee": note.assignee,
        "due_at": note.due_at.isoformat() if note.due_at else None, "url": link(note, base_url),
        "created_at": note.created_at.isoformat(),
    }


def _lines(note: Notification, base_url: str) -> list[str]:
    lines = [headline(note)]
    if note.message_zh:
        lines.append(note.message_zh)
    if note.role or note.assignee:
        lines.append(f"角色 {note.role or '-'} · 处理人 {note.assignee or '-'}")
    if note.due_at:
        lines.append(f"期限 {note.due_at.isoformat()}")
    return lines


def wecom(note: Notification, base_url: str) -> dict[str, Any]:
    """Return a WeCom group-robot markdown message with the task link."""
    body = "\n".join(_lines(note, base_url)) + f"\n[打开]({link(note, base_url)})"
    return {"msgtype": "markdown", "markdown": {"content": body}}


def dingtalk(note: Notification, base_url: str) -> dict[str, Any]:
    """Return a DingTalk group-robot markdown message with the task link."""
    body = "\n\n".join(_lines(note, base_url)) + f"\n\n[打开]({link(note, base_url)})"
    return {"msgtype": "markdown", "markdown": {"title": headline(note), "text": body}}


BODIES = {"generic": generic, "wecom": wecom, "dingtalk": dingtalk}


def email(note: Notification, base_url: str, sender: str, to: str, key: str) -> EmailMessage:
    """Return the e-mail; its Message-ID carries the idempotency key so a resend is recognisable."""
    msg = EmailMessage()
    msg["Subject"] = headline(note)
    msg["From"], msg["To"] = sender, to
    msg["Message-ID"] = f"<{key.replace(':', '.')}@propertyflow>"
    msg["X-Idempotency-Key"] = key
    text = "\n".join([*_lines(note, base_url), link(note, base_url), "", headline(note, "en")])
    msg.set_content(text)
    return msg
