"""Whole numbers read from text, one way (``core.numbers``), and the readers that use it."""

from __future__ import annotations

import pytest

from chainfsm import settings
from chainfsm.core import boot_window, numbers
from chainfsm.edge import pids


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("0042", 42),
        (b"123", 123),
        ("", None),
        ("-1", None),
        ("+5", None),
        ("1_000", None),
        (" 7", None),
        ("3.0", None),
        ("²", None),  # isdigit() passes it; int() refuses it
        ("٣", None),  # Arabic-Indic three: int() reads it as 3
        (b"\xd9\xa3", None),
    ],
)
def test_a_whole_number_is_ascii_digits_alone(text: str | bytes, number: int | None) -> None:
    assert numbers.whole_number(text) == number


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("4242\n", (4242, None)),
        ("4242 987654\n", (4242, 987654)),
        ("", None),
        ("1 2 3", None),
        ("42 x", None),
        ("²", None),  # raised ValueError before: the dump's start and `chainfsm dump` crashed
        ("٣", None),
    ],
)
def test_a_pid_file_holds_a_pid_and_maybe_its_start_time(
    text: str, found: tuple[int, int | None] | None
) -> None:
    assert pids.parse_pid_file(text) == found


@pytest.mark.parametrize("text", ["0", "-1", "x", "+5", "1_000", "²", "٣", ""])
def test_a_count_setting_refuses_all_but_plain_digits_above_zero(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a whole number above zero$"):
        settings.positive_int(text)


@pytest.mark.parametrize(("text", "value"), [("5", 5), (" 12\n", 12), ("007", 7)])
def test_a_count_setting_takes_digits_with_white_space_around(text: str, value: int) -> None:
    assert settings.positive_int(text) == value


@pytest.mark.parametrize("text", ["127.0.0.1:²", "127.0.0.1:٣", ":65536", "127.0.0.1", ":+80"])
def test_a_listen_address_with_a_port_that_is_not_plain_digits_is_refused_in_words(
    text: str,
) -> None:
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        settings.split_listen(text)


def test_a_btime_that_is_not_digits_is_no_boot_time() -> None:
    assert boot_window.boot_time("cpu 1 2\nbtime 1700000000\n") == 1700000000.0
    assert boot_window.boot_time("btime ²\n") is None
    assert boot_window.boot_time("btime -5\n") is None
