"""Message validation without a server: every malformed message is a one-line ProtocolError."""

import json

import pytest

from hiwm.studio.protocol import MAX_MESSAGE_BYTES, SCHEMAS, ProtocolError, check_action, encode, parse_message


@pytest.mark.parametrize("kind", sorted(k for k, v in SCHEMAS.items() if not v))
def test_every_field_free_type_parses(kind):
    m = parse_message(json.dumps({"type": kind, "seq": 3}))
    assert m.type == kind and m.seq == 3 and m.fields == {}


def test_fields_parse_to_plain_values():
    assert parse_message('{"type":"act","action":[1,2.5]}')["action"] == [1.0, 2.5]
    assert parse_message('{"type":"roll_back","node":7}')["node"] == 7
    m = parse_message('{"type":"mark","branch":2,"keep":false}')
    assert m["keep"] is False and "outcome" not in m.fields
    assert parse_message('{"type":"rate","hz":20}')["hz"] == 20.0


@pytest.mark.parametrize("raw", [
    "not json", "", "[1,2]", '"act"', "null", '{"seq":1}', '{"type":"explode"}', '{"type":5}',
    '{"type":"act"}', '{"type":"act","action":[NaN,1]}', '{"type":"act","action":[Infinity,1]}',
    '{"type":"act","action":[1e400,1]}', '{"type":"act","action":"12"}', '{"type":"act","action":[]}',
    '{"type":"act","action":[true,1]}', '{"type":"act","action":[[1],2]}',
    '{"type":"roll_back","node":-1}', '{"type":"roll_back","node":1.5}', '{"type":"roll_back","node":"3"}',
    '{"type":"roll_back","node":true}', '{"type":"roll_back","node":99999999999}',
    '{"type":"mark","branch":0,"outcome":"great"}', '{"type":"mark","branch":0,"keep":"yes"}',
    '{"type":"rate","hz":0}', '{"type":"rate","hz":1000}', '{"type":"pause","extra":1}',
    '{"type":"pause","seq":-1}', '{"type":"pause","seq":"a"}', "[" * 3000 + "]" * 1000,
    '{"type":"pause","seq":' + "9" * 4000 + "}",
], ids=lambda raw: raw[:40])
def test_malformed_messages_are_refused_in_one_line(raw):
    with pytest.raises(ProtocolError) as e:
        parse_message(raw)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


def test_oversized_messages_are_refused():
    big = json.dumps({"type": "act", "action": [1.0] * 2, "pad": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(ProtocolError, match="larger than"):
        parse_message(big)
    with pytest.raises(ProtocolError, match="larger than"):
        parse_message(big.encode())
    with pytest.raises(ProtocolError, match="UTF-8"):
        parse_message(b"\xff\xfe")


def test_actions_are_checked_against_the_action_box():
    assert check_action([0.0, 512.0], (0.0, 0.0), (512.0, 512.0)) == [0.0, 512.0]
    for bad in ([1.0], [1.0, 2.0, 3.0], [-0.1, 5.0], [5.0, 512.5]):
        with pytest.raises(ProtocolError):
            check_action(bad, (0.0, 0.0), (512.0, 512.0))


def test_encode_never_sends_nan():
    assert json.loads(encode({"u": float("nan"), "a": [1.0, float("inf")]})) == {"u": None, "a": [1.0, None]}


GRIPPER_LOW, GRIPPER_HIGH = (-0.25, -0.25, 0.005, 0.0), (0.25, 0.25, 0.15, 1.0)


def test_gripper_actions_are_checked_against_their_box():
    """A 4-D [x, y, z, grasp] action: every dim against its own bounds, the exact length, finite numbers."""
    ok = [[-0.25, 0.25, 0.005, 0.0], [0.0, 0.1, 0.15, 1.0], [0.1, -0.1, 0.08, 0.5]]
    for a in ok:
        assert check_action(parse_message(json.dumps({"type": "act", "action": a}))["action"], GRIPPER_LOW, GRIPPER_HIGH) == a
    bad = {"x": [0.26, 0.0, 0.05, 0.0], "y": [0.0, -0.3, 0.05, 0.0], "height": [0.0, 0.0, 0.0, 0.0],
           "too high": [0.0, 0.0, 0.2, 0.0], "grasp": [0.0, 0.0, 0.05, 1.01], "negative grasp": [0.0, 0.0, 0.05, -0.1],
           "2-D": [0.0, 0.0], "3-D": [0.0, 0.0, 0.05], "5-D": [0.0, 0.0, 0.05, 1.0, 0.0]}
    for what, a in bad.items():
        with pytest.raises(ProtocolError, match=r"action") as e:
            check_action(a, GRIPPER_LOW, GRIPPER_HIGH)
        assert "\n" not in str(e.value), what
    with pytest.raises(ProtocolError, match=r"action\[2\]=0.2 is outside \[0.005, 0.15\]"):
        check_action([0.0, 0.0, 0.2, 0.0], GRIPPER_LOW, GRIPPER_HIGH)


@pytest.mark.parametrize("raw", ['{"type":"act","action":[0,0,NaN,1]}', '{"type":"act","action":[0,0,0.05,Infinity]}',
                                 '{"type":"act","action":[0,0,0.05,null]}', '{"type":"act","action":[0,0,"0.05",1]}',
                                 '{"type":"act","action":[0,0,0.05,true]}'])
def test_gripper_actions_must_be_finite_numbers(raw):
    with pytest.raises(ProtocolError):
        parse_message(raw)
