"""A user's roles kept per connection at the audience token the unit's lock read: no read, never stale."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from department.roles import ROLES
from engine.calendar import BusinessCalendar
from engine.errors import InvalidData
from engine.runtime import Engine
from engine.store.locking import lock_by_task, token_at_lock
from engine.store.models import User, UserRole
from tests.conftest import T0, add_user
from tests.pg import two_processes_on_pg
from tests.processes.helpers import Scenario, deploy_all
from tests.processes.test_statements_per_step import START, statements_of

Factory = Callable[[], Session]


def _id(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


def _take_role(session: Session) -> None:
    session.execute(delete(UserRole).where(UserRole.user_id == _id(session, "tech_wang"),
                                           UserRole.role == "technician"))


def _switch_off(session: Session) -> None:
    session.execute(update(User).where(User.username == "tech_wang").values(active=False))


def _give_role(session: Session) -> None:
    session.add(UserRole(user_id=_id(session, "tech_li"), role="technician"))


# What another process changes, whom the dispatcher then picks, and whether the pick is taken after it.
CHANGES: dict[str, tuple[Callable[[Session], None], str, bool]] = {
    "the role taken away": (_take_role, "tech_wang", False),
    "the user switched off": (_switch_off, "tech_wang", False),
    "the role given": (_give_role, "tech_li", True),
}


def scenario(session: Session) -> Scenario:
    """Return a scenario on a session whose database has every role's user, two technicians, the processes."""
    people = {role: add_user(session, role, role) for role in ROLES}
    people["tech_wang"] = add_user(session, "tech_wang", "technician")
    people["tech_li"] = add_user(session, "tech_li")  # not a technician (yet)
    session.commit()
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    deploy_all(session, engine)
    return Scenario(session, engine, people, T0)


def dispatch_to(sc: Scenario, technician: str) -> tuple[bool, list[str]]:
    """Complete a new repair's dispatch picking `technician`: was the pick taken, and the roles reads sent."""
    sc.start("repair_dispatch", START, "cs_assistant")
    sc.claim("dispatch", "engineering_dispatcher")
    task_id, actor = sc.task("dispatch").id, sc.actor("engineering_dispatcher")
    taken = True

    def complete() -> None:
        nonlocal taken
        try:
            sc._unit(lambda: sc.engine.complete(  # noqa: SLF001 - the unit of work is measured
                sc.session, task_id, {"trade": "hvac", "technician": technician}, actor, now=sc.now))
        except InvalidData as refused:
            assert "technician" in refused.fields
            taken = False

    sent = statements_of(sc.session, complete)
    # (The notification to the assigned technician reads its audience with preferences: not a role read.)
    return taken, [s for s in sent if "FROM users" in s and "notification_preferences" not in s]


def change_seen_by_the_next_unit(this: Factory, other: Factory, change: str) -> None:
    """Keep a pick's roles in one process, change them in another; the next dispatch there must see it."""
    act, pick, taken_after = CHANGES[change]
    with this() as session:
        sc = scenario(session)
        assert dispatch_to(sc, pick)[0] is not taken_after  # read, and kept at the token
        taken, reads = dispatch_to(sc, pick)
        assert taken is not taken_after and reads == [], "kept: no read while the token holds"
        with other() as s:
            act(s)
            s.commit()
        taken, reads = dispatch_to(sc, pick)
        assert taken is taken_after, f"{change} not seen by the next unit"
        assert len(reads) == 1, "the token changed: read again"


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_a_users_roles_by_another_process_is_seen_by_the_next_unit(
        two_processes: tuple[Factory, Factory], change: str) -> None:
    change_seen_by_the_next_unit(*two_processes, change)


@pytest.mark.postgres
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_a_users_roles_by_another_process_is_seen_by_the_next_unit_on_postgresql(
        change: str) -> None:
    with two_processes_on_pg("roles kept at the audience token on PostgreSQL", "bpm_r") as processes:
        change_seen_by_the_next_unit(*processes, change)


def reassign_after_the_role_is_taken(this: Factory, other: Factory) -> None:
    """Hand a technician's task on to a colleague, take the colleague's role elsewhere, hand it on again."""
    with this() as session:
        sc = scenario(session)
        with other() as s:
            s.add(UserRole(user_id=_id(s, "tech_li"), role="technician"))
            s.commit()
        assert dispatch_to(sc, "tech_wang")[0]
        task_id, admin = sc.task("arrive_on_site").id, sc.actor("admin")
        reassign: Callable[[str], object] = lambda to: sc._unit(  # noqa: E731,SLF001
            lambda: sc.engine.reassign(sc.session, task_id, to, admin, now=sc.now))
        reassign("tech_li")  # tech_li's roles read, and kept
        reassign("tech_wang")
        with other() as s:
            s.execute(delete(UserRole).where(UserRole.user_id == _id(s, "tech_li")))
            s.commit()
        with pytest.raises(InvalidData, match="assignee refused"):
            reassign("tech_li")
        assert sc.task("arrive_on_site").assignee == "tech_wang"


def test_reassigning_to_a_user_whose_role_another_process_took_is_refused(
        two_processes: tuple[Factory, Factory]) -> None:
    reassign_after_the_role_is_taken(*two_processes)


@pytest.mark.postgres
def test_reassigning_to_a_user_whose_role_another_process_took_is_refused_on_postgresql() -> None:
    with two_processes_on_pg("roles kept at the audience token on PostgreSQL", "bpm_r") as processes:
        reassign_after_the_role_is_taken(*processes)


def test_a_unit_that_changes_users_itself_after_its_lock_reads_roles_again(
        two_processes: tuple[Factory, Factory]) -> None:
    this, _other = two_processes
    with this() as session:
        sc = scenario(session)
        assert dispatch_to(sc, "tech_wang")[0]
        task_id = sc.task("arrive_on_site").id
        for change in (lambda: add_user(session, "tech_zhou", "technician"),  # flushed by the ORM
                       lambda: _take_role(session)):  # sent through the session
            assert lock_by_task(session, task_id) is not None and token_at_lock(session) is not None
            change()
            assert token_at_lock(session) is None, "the token read before the change is stale"
        session.rollback()
        assert token_at_lock(session) is None  # never carried into the next transaction
