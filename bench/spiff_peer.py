"""What a team builds with SpiffWorkflow alone: the workflow serialized after every step into one row."""

from __future__ import annotations

import json
import zlib
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, update

from .common import Database, raw_repair_instance

METADATA = MetaData()
# One row per workflow holding Spiff's own JSON (spec included), as Spiff's example application stores it.
WORKFLOWS = Table("spiff_peer_workflows", METADATA, Column("id", Integer, primary_key=True),
                  Column("state", Text, nullable=False))


class PersistedPeer:
    """Run repair_dispatch in memory and write `serialize_json` to its row with a commit after each step."""

    def __init__(self, db: Database) -> None:
        from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer

        self.db = db
        self.serializer = BpmnWorkflowSerializer()
        METADATA.create_all(db.bind)

    def instance(self, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any) -> None:
        """Take one instance start→closed, persisting (one committed statement) after every step."""
        row_id: list[int] = []

        def persist(workflow: Any, _element: str) -> None:
            state = self.serializer.serialize_json(workflow)
            with self.db.bind.begin() as conn:
                if not row_id:
                    row_id.append(conn.execute(insert(WORKFLOWS).values(state=state)).inserted_primary_key[0])
                else:
                    conn.execute(update(WORKFLOWS).where(WORKFLOWS.c.id == row_id[0]).values(state=state))

        raw_repair_instance(spec, subprocess_specs, script_engine, after_step=persist)


def fair_bytes(serializer: Any, workflow: Any) -> int:
    """Return Spiff's own JSON without the spec, zlib-compressed: the fair baseline for stored bytes."""
    dct = json.loads(serializer.serialize_json(workflow))
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    raw = json.dumps(dct, separators=(",", ":"), ensure_ascii=False)
    return len(zlib.compress(raw.encode("utf-8"), 6))
