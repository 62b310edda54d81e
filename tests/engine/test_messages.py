"""Engine messages are ordinary English strings that also remember their template for translation."""

from __future__ import annotations

import copy
import json
import pickle

from engine.errors import InvalidBpmn, Problem
from engine.messages import Message, msg


def test_a_message_is_its_english_text_and_keeps_template_and_params() -> None:
    text = msg("{where}: min {low:g} is greater than max {high:g}", where="pf:field 'n'", low=5.0, high=2.0)
    assert isinstance(text, str) and text == "pf:field 'n': min 5 is greater than max 2"
    assert text.template == "{where}: min {low:g} is greater than max {high:g}"
    assert text.params == {"where": "pf:field 'n'", "low": 5.0, "high": 2.0}
    assert "greater than" in text and json.dumps(text) == json.dumps(str(text))
    error = InvalidBpmn([Problem("n", text)], "x.bpmn")
    assert error.message == "x.bpmn: 1 problem(s): n: pf:field 'n': min 5 is greater than max 2"


def test_a_message_survives_pickle_and_copy() -> None:
    inner = msg("a number")
    text = msg("{where}: {attr} '{raw}' is neither {scale} nor a field or variable name",
               where="pf:field 'n'", attr="min", raw="x", scale=inner)
    for clone in (pickle.loads(pickle.dumps(text)), copy.deepcopy(text), copy.copy(text)):
        assert isinstance(clone, Message) and clone == text
        assert clone.template == text.template and clone.params["scale"].template == "a number"
