"""The shipped BPMN files deploy cleanly and carry what process owners and the engine rely on."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.definitions import compile_process
from engine.runtime import Engine
from tests.processes.helpers import KEYS, PROCESSES, deploy_all

# Deadlines of SPEC §2–3: boundary timer → (task it watches, follow-up task).
DEADLINES = {
    "repair_dispatch": {"arrive_overdue": "arrive_on_site", "assist_overdue": "assist",
                        "callback_overdue": "callback"},
    "complaint_handling": {"forward_overdue": "forward", "report_overdue": "report_to_leadership",
                           "investigate_overdue": "investigate", "callback_overdue": "callback",
                           "take_over_overdue": "take_over_case", "accept_overdue": "accept_case",
                           "inform_customer_overdue": "inform_customer",
                           "explain_and_assist_overdue": "explain_and_assist"},
    "sealed_key_usage": {"gm_approval_overdue": "gm_approval",
                         "stamped_application_overdue": "collect_stamped_application"},
    "hazardous_goods_issuance": {"use_overdue": "use_and_report", "return_overdue": "return_unused"},
    "sealed_key_incident": {},
    "service_quality_anomaly": {"improvement_overdue": "implement_improvement"},
    "customer_proposal": {"hold_overdue": "reanalyse"},
    "satisfaction_survey": {},
    "customer_visit": {},
    "key_custody": {},
    "key_loan": {"return_overdue": "return_key"},
    "key_loss": {},
}


def test_all_processes_deploy_once_and_redeploy_as_unchanged(session: Session, engine: Engine) -> None:
    first = deploy_all(session, engine)
    assert sorted(first) == sorted(KEYS)
    again = deploy_all(session, engine)
    assert again == first


@pytest.mark.parametrize("key", KEYS)
def test_process_names_its_rule_source_and_every_task_is_bilingual(key: str) -> None:
    model = compile_process((PROCESSES / f"{key}.bpmn").read_bytes(), f"{key}.bpmn").model
    assert model["process_key"] == key
    assert "种子文件" in model["documentation"] and "SPEC §3." in model["documentation"]
    assert model["name_zh"] and model["name_en"]
    for element, task in model["tasks"].items():
        assert task["title_zh"] and task["title_en"], element
        assert task["form"] is not None, element
        for field in task["form"]["fields"]:
            assert field["label_zh"] and field["label_en"], (element, field["name"])
    assert set(model["outcomes"].values()) <= {"closed", "completed", "rejected"}
    assert {t: spec["attached_to"] for t, spec in model["timers"].items()} == DEADLINES[key]
    assert not any(spec["interrupting"] for spec in model["timers"].values())  # the work must go on


def test_the_hazardous_goods_form_names_each_item_as_the_register_does() -> None:
    from department.services import HAZARD_ITEMS
    from engine.forms.model import FormDef

    xml = (PROCESSES / "hazardous_goods_issuance.bpmn").read_bytes()
    field = FormDef.from_dict(compile_process(xml).model["start_form"]).field("item")
    assert field is not None
    assert {o.value: (o.label_zh, o.label_en) for o in field.options} == HAZARD_ITEMS
