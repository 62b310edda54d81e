"""Scenario tests for satisfaction_survey (客戶滿意度調查): plan, hand out, collect, analyse, correct."""

from __future__ import annotations

from sqlalchemy.orm import Session

from department import quality
from tests.processes.helpers import Scenario

KEY = "satisfaction_survey"


def run_until_analysis(sc: Scenario, returned: int = 180, satisfied: int = 171) -> None:
    """Plan 250 customers, hand out 200, collect the returns."""
    sc.start(KEY, {"period": "2026下半年"}, "cs_manager")
    sc.do("plan_population", "cs_supervisor", {"building_customers": 250, "planned_handout": 200})
    sc.do("hand_out", "cs_assistant", {"handed_out": 200})
    sc.do("collect", "cs_assistant", {"returned": returned, "satisfied": satisfied})


def test_survey_meeting_the_standard_is_analysed_and_recorded_without_corrective_actions(
        sc: Scenario, session: Session) -> None:
    run_until_analysis(sc)
    assert (sc.data["satisfaction_percent"], sc.data["handout_percent"], sc.data["return_percent"]) == (
        95.0, 80.0, 90.0)
    assert sc.data["meets_standard"] is True and sc.data["previous_satisfaction"] == -1.0
    sc.do("analyse", "cs_manager", {"analysis": "首次调查，达到承诺标准"})
    assert sc.path() == ["plan_population", "hand_out", "collect", "analyse"]
    sc.assert_ended("completed")
    [survey] = quality.surveys(session)
    assert (survey.handed_out, survey.returned, survey.satisfied) == (200, 180, 171)
    assert survey.non_conforming == ""


def test_non_conforming_items_give_each_departments_head_a_corrective_action(
        sc: Scenario, session: Session) -> None:
    run_until_analysis(sc, returned=150, satisfied=120)
    assert sc.data["meets_standard"] is False
    sc.do("analyse", "cs_manager", {"analysis": "维修与保洁不达标", "nc_engineering": True,
                                    "nc_cleaning": True})
    assert sc.open_tasks() == ["corrective_cleaning", "corrective_engineering"]
    assert sc.inbox("engineering_dispatcher") == ["corrective_engineering"]
    assert sc.inbox("cleaning_foreman") == ["corrective_cleaning"]
    sc.do("corrective_engineering", "engineering_dispatcher", {"corrective_action": "维修回访加强"})
    sc.do("corrective_cleaning", "cleaning_foreman", {"corrective_action": "增加巡查"})
    sc.assert_ended("completed")
    assert quality.surveys(session)[0].non_conforming == "engineering cleaning"


def test_the_next_survey_is_compared_with_the_last(sc: Scenario) -> None:
    run_until_analysis(sc, returned=180, satisfied=162)
    sc.do("analyse", "cs_manager", {"analysis": "90%", "nc_customer_service": True})
    sc.do("corrective_customer_service", "cs_supervisor", {"corrective_action": "培训"})
    sc.advance(days=180)
    run_until_analysis(sc)
    assert sc.data["previous_satisfaction"] == 90.0
