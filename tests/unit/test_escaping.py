"""Output that cannot crash: lone surrogates (names that are not UTF-8) leave as escapes."""

from __future__ import annotations

import json
import logging
import os

import pytest

from chainfsm import logs
from chainfsm.core import chaining, escaping
from chainfsm.core.validation import NetworkList, Refusal
from chainfsm.process import state_dump


def test_a_lone_surrogate_is_encoded_as_the_json_escape_that_reads_back_as_it() -> None:
    text = json.dumps({"name": "10-\udcff.conflist", "type": "é"}, ensure_ascii=False)
    data = escaping.utf8(text)
    assert data == b'{"name": "10-\\udcff.conflist", "type": "\xc3\xa9"}'
    assert os.fsencode(json.loads(data.decode("utf-8"))["name"]) == b"10-\xff.conflist"


def test_the_state_dump_of_a_primary_whose_name_is_not_utf8_is_utf8_json() -> None:
    name = os.fsdecode(b"10-\xff.conflist")
    doc = {"primary": state_dump.verdict_fields(name, b'{"name":"n","plugins":[{"type":"a"}]}')}
    back = json.loads(state_dump.encode(doc).decode("utf-8"))
    assert os.fsencode(back["primary"]["file"]) == b"10-\xff.conflist"


#: Tricky text and what each escaper made of it before escaping had one home (issue 21): the
#: one-line form (reasons, log fields, stderr), the JSON string (refusals' quoted keys) and the
#: UTF-8 bytes (stdout, the dump, the log pipe). Pinned so the move changed no byte.
PINNED = [
    ("plain name", "plain name", '"plain name"', b"plain name"),
    ("tab\there", "tab\\there", '"tab\\there"', b"tab\there"),
    ("new\nline", "new\\nline", '"new\\nline"', b"new\nline"),
    ('say "hi"', 'say "hi"', '"say \\"hi\\""', b'say "hi"'),
    ("back\\slash", "back\\slash", '"back\\\\slash"', b"back\\slash"),
    ("\x00nul", "\\x00nul", '"\\u0000nul"', b"\x00nul"),
    ("\x7fdel", "\\x7fdel", '"\\u007fdel"', b"\x7fdel"),
    ("\x85nel", "\\x85nel", '"\\u0085nel"', b"\xc2\x85nel"),
    ("\u00a0nbsp", "\\xa0nbsp", '"\\u00a0nbsp"', b"\xc2\xa0nbsp"),
    ("\u200bzw", "\\u200bzw", '"\\u200bzw"', b"\xe2\x80\x8bzw"),
    ("é", "é", '"é"', b"\xc3\xa9"),
    # Once one character needs escaping, every non-ASCII one is escaped too.
    ("é\n", "\\xe9\\n", '"\\u00e9\\n"', b"\xc3\xa9\n"),
    ("\u2028sep", "\\u2028sep", '"\\u2028sep"', b"\xe2\x80\xa8sep"),
    ("\udcff", "\\udcff", '"\\udcff"', b"\\udcff"),
    ("10-\udcff.conflist", "10-\\udcff.conflist", '"10-\\udcff.conflist"', b"10-\\udcff.conflist"),
    ("smile \U0001f600", "smile \U0001f600", '"smile \U0001f600"', b"smile \xf0\x9f\x98\x80"),
    ("'single'", "'single'", "\"'single'\"", b"'single'"),
]


@pytest.mark.parametrize(("text", "line", "json_text", "data"), PINNED)
def test_each_escaper_keeps_its_output_for_tricky_text(
    text: str, line: str, json_text: str, data: bytes
) -> None:
    assert escaping.one_line(text) == line
    assert escaping.json_string(text) == json_text
    assert escaping.utf8(text) == data


def _record() -> logging.LogRecord:
    record = logging.LogRecord("chainfsm", logging.WARNING, "", 0, "ev", None, None)
    record.created = 0.0
    record.fields = {"file": "a\nb\udcff", "n": 3, "reason": 'bad "x"\t\udcff'}
    return record


def test_a_text_log_line_escapes_names_and_reason_onto_one_line() -> None:
    assert logs.TextFormatter().format(_record()) == (
        '1970-01-01T00:00:00.000+00:00 warning ev file=a\\nb\\udcff n=3: bad "x"\\t\\udcff'
    )


def test_a_json_log_line_leaves_the_pipe_as_utf8_with_surrogates_escaped() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as stream:
        handler = logs.LineHandler(stream)
        handler.setFormatter(logs.JsonFormatter())
        handler.emit(_record())
    with os.fdopen(read_fd, "rb") as reader:
        assert reader.read() == (
            b'{"time": "1970-01-01T00:00:00.000+00:00", "level": "warning", "event": "ev",'
            b' "file": "a\\nb\\udcff", "n": 3, "reason": "bad \\"x\\"\\t\\udcff"}\n'
        )


def test_a_chained_string_with_a_lone_surrogate_is_written_back_as_its_escape() -> None:
    plugin = {"type": "a", "note": "x\udcffy"}
    document = {"name": "n", "plugins": [plugin]}
    unchecked = NetworkList("10-a.conflist", "n", None, (plugin,), document, False)
    rendered = chaining.render(unchecked, chaining.DEFAULT_PLUGIN, "05-antrea.conflist")
    # The escape reached validation as text (a raw surrogate would not have encoded).
    assert isinstance(rendered, Refusal)
    assert rendered.detail == (
        'cannot be chained: 05-antrea.conflist: holds the string "x\\udcffy", whose lone'
        " surrogate escape is not text (the runtime reads it as U+FFFD)"
    )
