"""reading.py: listing and reading the conf dir without ever hanging on what lies there."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from chainfsm.core.validation import MAX_BYTES, Refusal, Rule
from chainfsm.edge import reading
from tests.support.constants import AZURE, OUTPUT


def _read_in_thread(net_dir: Path, name: str) -> reading.Read:
    """``read`` on a watchdog thread, so a hang fails this test instead of the run."""
    results: list[reading.Read] = []
    worker = threading.Thread(
        target=lambda: results.append(reading.read(net_dir, name)), daemon=True
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"reading {name} hangs"
    return results[0]


def test_a_fifo_named_like_a_config_file_is_listed_and_refused_as_not_regular(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / OUTPUT)
    assert reading.list_names(tmp_path) == [OUTPUT]
    refusal = _read_in_thread(tmp_path, OUTPUT)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NOT_REGULAR
    assert str(refusal) == "05-antrea.conflist: is not a regular file"


def test_a_directory_named_like_a_config_file_is_not_listed(tmp_path: Path) -> None:
    (tmp_path / "x.conflist").mkdir()
    (tmp_path / "10-a.conflist").write_bytes(b"{}")
    assert reading.list_names(tmp_path) == ["10-a.conflist"]


def test_a_directory_named_like_a_config_file_is_refused_when_read_anyway(tmp_path: Path) -> None:
    (tmp_path / "x.conflist").mkdir()
    refusal = reading.read(tmp_path, "x.conflist")
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NOT_REGULAR
    assert refusal.detail == "is a directory"


def test_a_symlink_to_a_directory_is_listed_and_refused_on_read(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "10-link.conflist").symlink_to(tmp_path / "real")
    assert "10-link.conflist" in reading.list_names(tmp_path)
    refusal = reading.read(tmp_path, "10-link.conflist")
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NOT_REGULAR


def test_a_symlink_to_a_device_is_refused_as_not_regular(tmp_path: Path) -> None:
    (tmp_path / "10-null.conflist").symlink_to("/dev/null")
    refusal = reading.read(tmp_path, "10-null.conflist")
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NOT_REGULAR
    assert refusal.detail == "is not a regular file"


def test_a_symlink_to_a_regular_file_is_read_through(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b'{"name":"n"}')
    (tmp_path / "10-a.conflist").symlink_to("target")
    assert reading.read(tmp_path, "10-a.conflist") == b'{"name":"n"}'


def test_a_file_over_the_cap_is_refused_by_its_size_without_reading_it(tmp_path: Path) -> None:
    huge = 5 * 1024**3  # sparse: reading it all would take seconds and gigabytes
    (tmp_path / "10-big.conflist").touch()
    os.truncate(tmp_path / "10-big.conflist", huge)
    refusal = reading.read(tmp_path, "10-big.conflist")
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.TOO_LARGE
    # The size in the sentence is the file's, not that of a capped read.
    assert refusal.detail == f"is {huge} bytes, over the {MAX_BYTES}-byte cap"


def test_a_file_of_exactly_the_cap_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "10-a.conflist").write_bytes(b" " * MAX_BYTES)
    data = reading.read(tmp_path, "10-a.conflist")
    assert isinstance(data, bytes)
    assert len(data) == MAX_BYTES


def test_an_absent_file_reads_as_none(tmp_path: Path) -> None:
    assert reading.read(tmp_path, "10-gone.conflist") is None


def test_an_empty_file_reads_as_empty_bytes(tmp_path: Path) -> None:
    (tmp_path / OUTPUT).write_bytes(b"")
    assert reading.read(tmp_path, OUTPUT) == b""


def test_listing_keeps_leftovers_and_dot_files_for_discovery_to_judge(tmp_path: Path) -> None:
    names = [AZURE, "10-azure.conflist-old", ".hidden.conflist", "README"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert sorted(reading.list_names(tmp_path)) == sorted(names)


def test_listing_a_missing_directory_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        reading.list_names(tmp_path / "absent")
