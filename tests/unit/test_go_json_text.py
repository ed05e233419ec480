"""The generated conf dirs' JSON text is what Go's decoder would read (support/go_json_text)."""

from __future__ import annotations

import re

from tests.support.go_json_text import Obj, render


def test_the_strategies_render_what_go_would_read_twice() -> None:
    # Obj keeps both occurrences of a key, which is the point of it.
    text = render(Obj((("name", 5), ("name", "n"))))
    assert text == '{"name":5,"name":"n"}'
    assert re.fullmatch(r'"a\\ud800"', render("a\ud800"))
