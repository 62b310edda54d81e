"""Put keys into the register the way the office does: through key_custody, step by step."""

from __future__ import annotations

from typing import Any

from tests.processes.helpers import Scenario


def handover_form(**override: Any) -> dict[str, Any]:
    """Return the handover_keys form of a move-in."""
    return {"handover_form_number": "JJ-2026-0815", "unit_inspected": True, "keys_handed_over": 3,
            "keys_in_custody": 1, "custody_agreement_reference": "TG-2026-0815",
            "customer_signature": "陳先生", **override}


def seal_unit(sc: Scenario, unit: str, seal: str) -> None:
    """Walk a move-in through key_custody so the unit's key is sealed under `seal`."""
    side = Scenario(sc.session, sc.engine, sc.people, sc.now)
    side.start("key_custody", {"unit": unit, "movement": "move_in", "customer_name": "陳先生"},
               "cs_assistant")
    side.do("handover_keys", "cs_assistant", handover_form())
    side.do("seal_keys", "cs_assistant", {"seal_number": seal, "witness": "cs_assistant2"})
    side.do("manager_sign", "cs_manager", {})
    side.assert_ended("completed")


def take_in(sc: Scenario, key_id: str, kind: str = "unit") -> None:
    """Register a vacant unit's (or a plant room's) keys in custody through key_custody."""
    keeper = {"unit": "cs_assistant", "plant_room": "engineering_dispatcher",
              "master": "security_guard"}[kind]
    side = Scenario(sc.session, sc.engine, sc.people, sc.now)
    side.start("key_custody", {"unit": key_id, "movement": "intake", "key_kind": kind,
                               "customer_name": "發展商"}, keeper)
    side.do("receive_keys", keeper, {"key_count": 2, "keys_labelled": True})
    side.assert_ended("completed")
