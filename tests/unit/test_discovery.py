"""Discovery: which files the runtime reads, in which order, and which one is the primary."""

from __future__ import annotations

import os

import pytest

from chainfsm.core import discovery
from tests.support.constants import OUTPUT


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("10-azure.conflist", ".conflist"),
        (".conflist", ".conflist"),
        ("10-bridge.conf", ".conf"),
        ("a.b.json", ".json"),
        ("10-azure.conflist-old", ".conflist-old"),
        ("10-azure.conflist8412.tmp", ".tmp"),
        ("05-cilium.conflist.cilium_bak", ".cilium_bak"),
        ("README", ""),
        ("trailing.", "."),
        ("10-NET.CONF", ".CONF"),
    ],
)
def test_extension_is_taken_from_the_last_dot_like_go_filepath_ext(name: str, ext: str) -> None:
    assert discovery.extension(name) == ext


@pytest.mark.parametrize(
    "name", ["10-azure.conflist", "10-bridge.conf", "99-x.json", ".conflist", ".hidden.conf"]
)
def test_names_with_exactly_a_config_extension_are_config_names(name: str) -> None:
    assert discovery.is_config_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "10-azure.conflist-old",
        "10-azure.conflist8412.tmp",
        "05-cilium.conflist.cilium_bak",
        "README",
        "10-net.CONFLIST",
        "10-net.conf.bak",
        "10-netconf",
        discovery.temp_name(OUTPUT, "abc123"),
    ],
)
def test_leftovers_backups_and_our_temp_files_are_not_config_names(name: str) -> None:
    assert not discovery.is_config_name(name)


def test_runtime_order_keeps_only_config_files_sorted_byte_wise() -> None:
    names = [
        "b.conf",
        "README",
        "B.conf",
        "_x.json",
        "9-net.conflist",
        "10-net.conflist",
        "\u00e9.conf",
        "z.conf",
        ".conflist",
        "10-net.conflist-old",
    ]
    assert discovery.runtime_order(names) == [
        ".conflist",
        "10-net.conflist",
        "9-net.conflist",
        "B.conf",
        "_x.json",
        "b.conf",
        "z.conf",
        "\u00e9.conf",
    ]


def test_runtime_order_sorts_undecodable_names_by_their_bytes_not_their_code_points() -> None:
    raw = os.fsdecode(b"\xff.conf")  # "\udcff.conf": code point 0xDCFF, byte 0xFF
    wide = "\uff01.conf"  # code point 0xFF01, bytes EF BC 81
    assert discovery.runtime_order([raw, wide]) == [wide, raw]


def test_the_primary_is_the_first_config_file_that_is_not_our_output() -> None:
    names = [OUTPUT, "20-other.conflist", "10-azure.conflist"]
    assert discovery.find_primary(names, OUTPUT) == "10-azure.conflist"


def test_a_dot_file_is_never_the_primary_even_when_it_sorts_first() -> None:
    names = [".conflist", ".10-azure.conflist", "10-azure.conflist"]
    assert discovery.find_primary(names, OUTPUT) == "10-azure.conflist"
    assert discovery.find_primary([".conflist", ".x.conf"], OUTPUT) is None


def test_leftovers_of_other_writers_and_our_temp_files_are_never_primary_candidates() -> None:
    leftovers = [
        "10-azure.conflist8412.tmp",
        "10-azure.conflist-old",
        "05-cilium.conflist.cilium_bak",
        ".10-azure.conflist",
        discovery.temp_name(OUTPUT, "1a2b"),
        "README",
        OUTPUT,
    ]
    assert discovery.find_primary(leftovers, OUTPUT) is None
    assert discovery.find_primary([*leftovers, "10-azure.conflist"], OUTPUT) == "10-azure.conflist"


def test_no_names_means_no_primary() -> None:
    assert discovery.find_primary([], OUTPUT) is None


def test_only_our_output_means_no_primary() -> None:
    assert discovery.find_primary([OUTPUT], OUTPUT) is None


def test_a_primary_given_by_exact_name_is_chosen_over_earlier_files() -> None:
    names = ["10-a.conflist", "20-b.conflist", "30-c.conf"]
    assert discovery.find_primary(names, OUTPUT, "30-c.conf") == "30-c.conf"


def test_a_primary_given_by_glob_is_the_first_match_in_runtime_order() -> None:
    names = ["10-a.conflist", "25-azure-b.conflist", "15-azure-a.conflist"]
    assert discovery.find_primary(names, OUTPUT, "*-azure-*.conflist") == "15-azure-a.conflist"


@pytest.mark.parametrize(
    "pattern",
    ["99-none.conflist", "10-azure.conflist-old", "*.tmp", OUTPUT, ".*", "10-AZURE.conflist"],
)
def test_a_primary_pattern_never_matches_a_non_config_file_our_output_or_a_dot_file(
    pattern: str,
) -> None:
    names = [
        "10-azure.conflist",
        "10-azure.conflist-old",
        "x.tmp",
        OUTPUT,
        ".hidden.conflist",
    ]
    assert discovery.find_primary(names, OUTPUT, pattern) is None


def test_aks_moving_its_conflist_to_a_new_name_moves_the_primary_with_it() -> None:
    before = [OUTPUT, "10-azure.conflist"]
    during = [OUTPUT, "10-azure.conflist", "15-azure-swift.conflist"]
    after = [OUTPUT, "10-azure.conflist-old", "15-azure-swift.conflist"]
    assert discovery.find_primary(before, OUTPUT) == "10-azure.conflist"
    assert discovery.find_primary(during, OUTPUT) == "10-azure.conflist"
    assert discovery.find_primary(after, OUTPUT) == "15-azure-swift.conflist"


def test_a_glob_covering_both_aks_names_follows_the_move() -> None:
    pattern = "1?-azure*.conflist"
    assert discovery.find_primary([OUTPUT, "10-azure.conflist"], OUTPUT, pattern) == (
        "10-azure.conflist"
    )
    assert discovery.find_primary([OUTPUT, "15-azure-overlay.conflist"], OUTPUT, pattern) == (
        "15-azure-overlay.conflist"
    )


def test_our_temp_name_is_recognised_only_for_its_own_output() -> None:
    temp = discovery.temp_name(OUTPUT, "x9")
    assert temp.startswith(".")
    assert discovery.is_our_temp(temp, OUTPUT)
    assert not discovery.is_our_temp(temp, "06-other.conflist")
    assert not discovery.is_our_temp(OUTPUT, OUTPUT)
    assert not discovery.is_our_temp("10-azure.conflist8412.tmp", OUTPUT)


def test_ignored_names_are_the_non_config_files_in_byte_order() -> None:
    names = ["10-azure.conflist-old", "README", "10-azure.conflist", "10-azure.conflist1.tmp"]
    assert discovery.ignored_names(names) == [
        "10-azure.conflist-old",
        "10-azure.conflist1.tmp",
        "README",
    ]
