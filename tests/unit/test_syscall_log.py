"""The strace-log audit (tests/support/syscall_log.py) on small hand-written logs: the agent's
own order passes, and a log that breaks each rule is caught, with the line that breaks it."""

from __future__ import annotations

import pytest

from chainfsm.core import discovery
from tests.support import syscall_log
from tests.support.syscall_log import Rule

D = "/n/net.d"
OUT = "05-antrea.conflist"
DEST = f"{D}/{OUT}"
T = f"{D}/.{OUT}.0123456789ab.chainfsm.tmp"
NEW = "05-antrea.conflist.new.conflist"
CLONE = (
    "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SETTLS,"
    " child_tid=0x7f, stack=0x7e} => {parent_tid=[%d]}, 88) = %d"
)

#: What the agent does (as strace -f -y -x logs it): the temp file opened on the event loop's
#: thread, written, synced and renamed on the writer thread, then the dir synced.
GOOD = f"""\
100 execve("/usr/bin/python3", ["python3", "-m", "chainfsm"], 0x7ffd /* 20 vars */) = 0
100 {CLONE % (101, 101)}
100 openat(AT_FDCWD</w>, "{T}", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644) = 6<{T}>
101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 9
101 fsync(6<{T}>) = 0
101 close(6<{T}>) = 0
101 rename("{T}", "{DEST}") = 0
101 openat(AT_FDCWD</w>, "{D}", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 6<{D}>
101 fsync(6<{D}>) = 0
101 close(6<{D}>) = 0
100 unlink("{T}") = -1 ENOENT (No such file or directory)
"""

#: A withdrawal: the output unlinked, then the dir synced.
WITHDRAWAL = f"""\
101 unlink("{DEST}") = 0
101 openat(AT_FDCWD</w>, "{D}", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 7<{D}>
101 fsync(7<{D}>) = 0
101 close(7<{D}>) = 0
"""


def audit(log: str) -> syscall_log.Audit:
    return syscall_log.audit(log, D, OUT)


def rules(log: str) -> list[tuple[Rule, int]]:
    return [(b.rule, b.line) for b in audit(log).breaches]


def without(log: str, line: str) -> str:
    """``log`` without the one line that ends with ``line``."""
    lines = log.splitlines(keepends=True)
    (gone,) = [n for n in lines if n.rstrip("\n").endswith(line)]
    return "".join(n for n in lines if n is not gone)


def test_the_agent_s_order_passes_and_says_what_it_put_in_place() -> None:
    found = audit(GOOD + WITHDRAWAL)
    assert found.breaches == ()
    assert found.placements == (
        syscall_log.Placement(f".{OUT}.0123456789ab.chainfsm.tmp", OUT, b'{"a": 1}\n', 7),
    )
    assert found.removals == (syscall_log.Removal(OUT, 12),)


def test_a_temp_file_never_synced_is_caught_at_its_rename() -> None:
    assert rules(without(GOOD, f"fsync(6<{T}>) = 0")) == [(Rule.TEMP_NOT_SYNCED, 6)]


@pytest.mark.parametrize(
    "sync",
    [
        f"101 fsync(6<{T}>) = -1 EIO (Input/output error)\n",  # failed
        "101 fsync(5</dev/null>) = 0\n",  # another file
    ],
)
def test_a_failed_sync_or_one_of_another_file_does_not_count(sync: str) -> None:
    log = GOOD.replace(f"101 fsync(6<{T}>) = 0\n", sync)
    assert rules(log) == [(Rule.TEMP_NOT_SYNCED, 7)]


def test_a_write_after_the_sync_needs_a_sync_of_its_own() -> None:
    late = f'101 fsync(6<{T}>) = 0\n101 write(6<{T}>, "\\n", 1) = 1\n'
    assert rules(GOOD.replace(f"101 fsync(6<{T}>) = 0\n", late)) == [(Rule.TEMP_NOT_SYNCED, 8)]


@pytest.mark.parametrize(
    "overlap",
    [
        # strace splits calls that overlap another thread's: here the sync ends after the
        # rename began...
        f"101 fsync(6<{T}> <unfinished ...>\n"
        f'100 rename("{T}", "{DEST}") = 0\n'
        "101 <... fsync resumed>) = 0\n",
        # ...and here it begins after the rename began (and ends before the rename does).
        f'101 rename("{T}", "{DEST}" <unfinished ...>\n'
        f"100 fsync(6<{T}>) = 0\n"
        "101 <... rename resumed>) = 0\n",
    ],
)
def test_a_sync_not_over_before_the_rename_starts_does_not_count(overlap: str) -> None:
    log = GOOD.replace(
        f'101 fsync(6<{T}>) = 0\n101 close(6<{T}>) = 0\n101 rename("{T}", "{DEST}") = 0\n',
        overlap,
    )
    assert rules(log) == [(Rule.TEMP_NOT_SYNCED, 6 if "fsync resumed" in overlap else 7)]


def test_the_descriptor_is_followed_not_its_number_or_the_path_strace_prints() -> None:
    # fd 6 closed and reopened on another file: a sync of the new fd 6 is not the temp's.
    reuse = (
        f"101 close(6<{T}>) = 0\n"
        '101 openat(AT_FDCWD</w>, "/n/other", O_RDONLY|O_CLOEXEC) = 6</n/other>\n'
        f"101 fsync(6<{T}>) = 0\n"
        "101 close(6</n/other>) = 0\n"
    )
    log = GOOD.replace(f"101 fsync(6<{T}>) = 0\n101 close(6<{T}>) = 0\n", reuse)
    assert rules(log) == [(Rule.TEMP_NOT_SYNCED, 9)]
    # fd 6 closed and its number taken by a call not traced (a socket): not the temp either.
    closed = f"101 close(6<{T}>) = 0\n101 fsync(6<socket:[4242]>) = 0\n"
    log = GOOD.replace(f"101 fsync(6<{T}>) = 0\n101 close(6<{T}>) = 0\n", closed)
    assert rules(log) == [(Rule.TEMP_NOT_SYNCED, 7)]
    # A dup of the temp's descriptor, synced, is the temp synced.
    dup = f"101 fcntl(6<{T}>, F_DUPFD_CLOEXEC, 0) = 9<{T}>\n101 fsync(9<{T}>) = 0\n"
    assert rules(GOOD.replace(f"101 fsync(6<{T}>) = 0\n", dup)) == []


def test_a_process_without_clone_files_has_a_table_of_its_own() -> None:
    # A forked child (no CLONE_FILES) opens its fd 7 on another file while the parent dups the
    # temp's descriptor to 7: the child's sync of its 7 is not the temp's, the parent's is.
    def synced_by(pid: int) -> str:
        return GOOD.replace(
            f"101 fsync(6<{T}>) = 0\n",
            "100 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f)"
            " = 102\n"
            '102 openat(AT_FDCWD</w>, "/n/other", O_RDONLY) = 7</n/other>\n'
            f"100 fcntl(6<{T}>, F_DUPFD, 7) = 7<{T}>\n"
            f"{pid} fsync(7<{T}>) = 0\n",
        )

    assert rules(synced_by(100)) == []
    assert rules(synced_by(102)) == [(Rule.TEMP_NOT_SYNCED, 10)]


def test_threads_share_one_table() -> None:
    # The writer thread opens the dir; the main thread's sync of that descriptor is the dir's.
    assert rules(GOOD.replace(f"101 fsync(6<{D}>) = 0", f"100 fsync(6<{D}>) = 0")) == []


def test_a_thread_seen_before_the_clone_that_made_it_shares_its_parent_s_table() -> None:
    lines = GOOD.splitlines(keepends=True)
    clone = lines.pop(1)
    lines.insert(4, clone)  # strace may print the child's first call before the parent's return
    assert rules("".join(lines)) == []


def test_a_thread_with_no_clone_is_an_error() -> None:
    with pytest.raises(syscall_log.TraceError, match="thread 101 appears without the clone"):
        audit(without(GOOD, "= 101"))


def test_a_rename_with_no_dir_sync_after_it_is_caught() -> None:
    assert rules(without(GOOD, f"fsync(6<{D}>) = 0")) == [(Rule.DIR_NOT_SYNCED_AFTER_RENAME, 7)]


def test_a_dir_sync_before_the_rename_or_after_the_next_change_does_not_count() -> None:
    early = (
        f'101 openat(AT_FDCWD</w>, "{D}", O_RDONLY|O_DIRECTORY) = 8<{D}>\n101 fsync(8<{D}>) = 0\n'
    )
    log = without(GOOD, f"fsync(6<{D}>) = 0").replace("101 rename(", early + "101 rename(")
    assert rules(log) == [(Rule.DIR_NOT_SYNCED_AFTER_RENAME, 9)]
    # The next change (a withdrawal, another rename) comes before the rename's dir sync.
    late = without(GOOD, f"fsync(6<{D}>) = 0") + WITHDRAWAL
    assert rules(late) == [(Rule.DIR_NOT_SYNCED_AFTER_RENAME, 7)]
    again = "".join(GOOD.splitlines(keepends=True)[2:10]).replace("0123456789ab", "ba9876543210")
    assert rules(without(GOOD, f"fsync(6<{D}>) = 0") + again) == [
        (Rule.DIR_NOT_SYNCED_AFTER_RENAME, 7)
    ]


def test_an_unlink_of_the_output_with_no_dir_sync_after_it_is_caught() -> None:
    log = GOOD + without(WITHDRAWAL, f"fsync(7<{D}>) = 0")
    assert rules(log) == [(Rule.DIR_NOT_SYNCED_AFTER_UNLINK, 12)]
    # unlinkat relative to a descriptor of the dir names the output too.
    at = log.replace(f'101 unlink("{DEST}") = 0', f'101 unlinkat(5<{D}>, "{OUT}", 0) = 0')
    assert rules(at) == [(Rule.DIR_NOT_SYNCED_AFTER_UNLINK, 12)]


def test_an_unlink_of_another_file_needs_no_dir_sync_but_is_listed() -> None:
    other = f'101 unlink("{D}/.{OUT}.ffffffffffff.chainfsm.tmp") = 0\n'
    found = audit(GOOD + other)
    assert found.breaches == ()
    assert found.removals == (syscall_log.Removal(f".{OUT}.ffffffffffff.chainfsm.tmp", 12),)


def test_a_temp_file_under_a_name_the_runtime_loads_is_caught() -> None:
    log = GOOD.replace(T, f"{D}/{NEW}")
    assert rules(log) == [(Rule.TEMP_NAME_READ_BY_RUNTIME, 7)]


@pytest.mark.parametrize(
    "write",
    [
        f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 4\n',  # short, and nothing after it
        f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = -1 ENOSPC (No space left on device)\n',
        f'101 writev(6<{T}>, [{{iov_base="x", iov_len=1}}], 1) = 1\n',  # not reassembled
    ],
)
def test_a_temp_file_not_written_in_full_is_caught(write: str) -> None:
    log = GOOD.replace(f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 9\n', write)
    assert rules(log) == [(Rule.TEMP_NOT_WRITTEN_IN_FULL, 7)]


def test_a_short_write_finished_by_the_next_one_is_whole() -> None:
    halves = (
        f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 4\n101 write(6<{T}>, ": 1}}\\n", 5) = 5\n'
    )
    found = audit(GOOD.replace(f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 9\n', halves))
    assert found.breaches == ()
    assert found.placements[0].data == b'{"a": 1}\n'


def test_a_renamed_file_the_process_did_not_create_is_caught() -> None:
    log = GOOD.replace("O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644", "O_WRONLY|O_CLOEXEC")
    assert rules(log) == [(Rule.TEMP_NOT_OURS, 7)]


@pytest.mark.parametrize(
    "in_place",
    [
        f'100 openat(AT_FDCWD</w>, "{DEST}", O_WRONLY|O_TRUNC|O_CLOEXEC) = 8<{DEST}>\n',
        f'100 openat(8</n>, "net.d/{OUT}", O_RDWR|O_CREAT, 0644) = 8<{DEST}>\n',
        f'100 truncate("{DEST}", 0) = 0\n',
    ],
)
def test_opening_or_truncating_the_output_for_writing_is_caught(in_place: str) -> None:
    assert rules(GOOD + in_place) == [(Rule.WRITTEN_IN_PLACE, 12)]


def test_a_write_through_the_temp_s_descriptor_after_its_rename_is_in_place() -> None:
    log = without(GOOD, f"close(6<{T}>) = 0").replace(
        f'101 openat(AT_FDCWD</w>, "{D}", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 6<{D}>\n'
        f"101 fsync(6<{D}>) = 0\n101 close(6<{D}>) = 0\n",
        f'101 write(6<{DEST}>, "\\n", 1) = 1\n'
        f'101 openat(AT_FDCWD</w>, "{D}", O_RDONLY|O_DIRECTORY) = 7<{D}>\n'
        f"101 fsync(7<{D}>) = 0\n",
    )
    assert rules(log) == [(Rule.WRITTEN_IN_PLACE, 7)]


def test_pwrite_at_an_offset_and_the_bracketed_pid_form_are_read() -> None:
    log = GOOD.replace(
        f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 9\n',
        f'[pid   101] pwrite64(6<{T}>, "\\x62\\143", 2, 1) = 2\n'
        f'[pid   101] pwrite64(6<{T}>, "a", 1, 0) = 1\n',
    )
    found = audit(log)
    assert found.breaches == ()
    assert found.placements[0].data == b"abc"


def test_the_bytes_are_assembled_as_the_kernel_would_with_append_and_ftruncates() -> None:
    # A second description of the temp in append mode writes at the end, not at its offset 0.
    log = GOOD.replace(
        f'101 write(6<{T}>, "{{\\"a\\": 1}}\\n", 9) = 9\n',
        f'101 write(6<{T}>, "abcd", 4) = 4\n'
        f'101 openat(AT_FDCWD</w>, "{T}", O_WRONLY|O_APPEND) = 7<{T}>\n'
        f'101 write(7<{T}>, "e", 1) = 1\n'
        f"101 close(7<{T}>) = 0\n"
        f"101 ftruncate(6<{T}>, 3) = 0\n"
        f'101 write(6<{T}>, "X", 1) = 1\n'
        f"101 ftruncate(6<{T}>, 7) = 0\n",
    )
    found = audit(log)
    assert found.breaches == ()
    assert found.placements[0].data == b"abc\x00X\x00\x00"


def test_renameat2_relative_to_dir_descriptors_is_a_rename() -> None:
    log = GOOD.replace(
        f'101 rename("{T}", "{DEST}") = 0',
        f'101 renameat2(5<{D}>, ".{OUT}.0123456789ab.chainfsm.tmp", AT_FDCWD</n>, "net.d/{OUT}",'
        " RENAME_NOREPLACE) = 0",
    )
    assert audit(log).placements[0].target == OUT
    assert rules(without(log, f"fsync(6<{D}>) = 0")) == [(Rule.DIR_NOT_SYNCED_AFTER_RENAME, 7)]


def test_strings_are_unescaped_as_strace_escapes_them() -> None:
    assert syscall_log.unescape(r"a\"b\\c\n\t\x00\xff\177\0") == b'a"b\\c\n\t\x00\xff\x7f\x00'


def test_a_log_that_cannot_be_audited_says_so() -> None:
    cut = GOOD.replace('\\n", 9) = 9', '"..., 9) = 9')
    with pytest.raises(syscall_log.TraceError, match="raise strace's -s"):
        audit(cut)
    with pytest.raises(syscall_log.TraceError, match="fsync resumed, never started"):
        audit("101 <... fsync resumed>) = 0\n")
    with pytest.raises(syscall_log.TraceError, match="no result"):
        audit("100 close(3)\n")


def test_the_runtime_extensions_are_the_ones_chainfsm_knows() -> None:
    # Stated apart so the audit does not take the code under test at its word; they must agree.
    assert set(syscall_log.RUNTIME_EXTENSIONS) == set(discovery.CONFIG_EXTENSIONS)
