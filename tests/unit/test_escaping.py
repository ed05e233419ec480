"""Output that cannot crash: lone surrogates (names that are not UTF-8) leave as escapes."""

from __future__ import annotations

import json
import os

from chainfsm.core import escaping
from chainfsm.process import state_dump


def test_a_lone_surrogate_is_encoded_as_the_json_escape_that_reads_back_as_it() -> None:
    text = json.dumps({"name": "10-\udcff.conflist", "type": "é"}, ensure_ascii=False)
    data = escaping.encode(text)
    assert data == b'{"name": "10-\\udcff.conflist", "type": "\xc3\xa9"}'
    assert os.fsencode(json.loads(data.decode("utf-8"))["name"]) == b"10-\xff.conflist"


def test_the_state_dump_of_a_primary_whose_name_is_not_utf8_is_utf8_json() -> None:
    name = os.fsdecode(b"10-\xff.conflist")
    doc = {"primary": state_dump.verdict_fields(name, b'{"name":"n","plugins":[{"type":"a"}]}')}
    back = json.loads(state_dump.encode(doc).decode("utf-8"))
    assert os.fsencode(back["primary"]["file"]) == b"10-\xff.conflist"
