"""Who may hand a task on: to a colleague (reassign, delegate) or back to its role's pool (release)."""

from __future__ import annotations

from engine import domain
from engine.actor import Actor


def may_hand_on(role: str, assignee: str | None, actor: Actor) -> bool:
    """Tell whether the actor may give this open task to someone else or back to the pool.

    Admins always may; so may whoever holds the task, a member of its role while nobody has claimed
    it (a step they may not do themselves goes to a colleague who may), and a role that dispatches
    the task's role (a dispatcher re-dispatching a late technician).
    """
    if actor.is_admin or (assignee is not None and assignee == actor.username):
        return True
    served = domain.current()
    held = served.effective_roles(actor.roles)
    if assignee is None and role in held:
        return True
    return role in served.dispatched(held)
