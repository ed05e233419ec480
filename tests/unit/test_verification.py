"""Verification: whether the runtime, reading the conf dir, would run our chain."""

from __future__ import annotations

from chainfsm.core import verification
from chainfsm.core.validation import Refusal, Rule
from chainfsm.core.verification import Effect
from tests.support import primaries
from tests.support.constants import OUTPUT

AZURE = primaries.fixture("aks-overlay")
AZURE_BYTES = AZURE.read_bytes()
CHAIN = primaries.render(AZURE)
EXPECTED = primaries.plan(AZURE).expected_plugins


def _verify(
    contents: dict[str, bytes | Refusal], extra_names: tuple[str, ...] = (), expected: bool = True
) -> verification.Verification:
    return verification.verify(
        [*contents, *extra_names], contents, OUTPUT, EXPECTED if expected else None
    )


def test_our_valid_chain_sorting_first_is_effective_and_the_runtime_loads_it() -> None:
    result = _verify({OUTPUT: CHAIN, "10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.EFFECTIVE
    assert result.effective
    assert result.runtime_ready
    assert result.first == OUTPUT
    assert result.runtime_report() == f"network ready, loading {OUTPUT}"
    assert "azure-vnet, portmap, antrea" in result.detail


def test_bytes_judged_already_are_not_judged_again_and_other_bytes_are() -> None:
    plan = primaries.plan(AZURE)
    # A verdict that validating the bytes would never give shows which one was taken.
    odd = plan.rendered_verdict._replace(plugins=({"type": "odd"},))
    contents = {OUTPUT: CHAIN}
    taken = verification.verify([OUTPUT], contents, OUTPUT, None, (CHAIN, odd))
    assert taken.detail == f"{OUTPUT} is first and runs [odd]"
    other = verification.verify([OUTPUT], {OUTPUT: b"{"}, OUTPUT, None, (CHAIN, odd))
    assert other.effect is Effect.INVALID


def test_without_expected_plugins_any_valid_output_sorting_first_is_effective() -> None:
    result = _verify({OUTPUT: AZURE_BYTES}, expected=False)
    assert result.effect is Effect.EFFECTIVE


def test_a_dir_with_no_config_file_is_no_config_and_the_runtime_is_not_ready() -> None:
    result = _verify({}, ("10-azure.conflist-old", "10-azure.conflist8412.tmp", "README"))
    assert result.effect is Effect.NO_CONFIG
    assert result.first is None
    assert not result.runtime_ready
    assert result.runtime_report() == (
        "cni plugin not initialized, because the conf dir holds no config file"
    )


def test_our_output_absent_beside_a_valid_primary_is_missing_while_the_runtime_is_ready() -> None:
    result = _verify({"10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.MISSING
    assert result.first == "10-azure.conflist"
    assert result.runtime_ready
    assert result.runtime_report() == "network ready, loading 10-azure.conflist"


def test_our_output_absent_beside_an_invalid_primary_is_missing_and_names_the_refusal() -> None:
    result = _verify({"10-azure.conflist": b"{"})
    assert result.effect is Effect.MISSING
    assert result.first_refusal is not None
    assert result.first_refusal.rule is Rule.NOT_JSON
    assert not result.runtime_ready
    assert "invalid" in result.detail


def test_a_valid_config_of_someone_else_sorting_first_shadows_ours() -> None:
    result = _verify({"00-cilium.conflist": AZURE_BYTES, OUTPUT: CHAIN})
    assert result.effect is Effect.SHADOWED
    assert result.first == "00-cilium.conflist"
    assert result.first_refusal is None
    assert result.runtime_ready


def test_an_invalid_config_sorting_before_ours_blocks_the_runtime_rather_than_shadowing() -> None:
    result = _verify({"00-cilium.conflist": b"", OUTPUT: CHAIN})
    assert result.effect is Effect.BLOCKED
    assert not result.runtime_ready
    assert result.runtime_report() == (
        "cni plugin not initialized, because 00-cilium.conflist is empty (0 bytes)"
    )


def test_blocked_and_shadowed_differ_only_in_whether_the_file_sorting_first_is_valid() -> None:
    valid_first = _verify({"00-cilium.conflist": AZURE_BYTES, OUTPUT: CHAIN})
    invalid_first = _verify({"00-cilium.conflist": b"{}", OUTPUT: CHAIN})
    assert (valid_first.effect, invalid_first.effect) == (Effect.SHADOWED, Effect.BLOCKED)
    assert (valid_first.runtime_ready, invalid_first.runtime_ready) == (True, False)
    assert valid_first.detail != invalid_first.detail


def test_a_dot_file_config_sorting_first_is_read_by_the_runtime_and_blocks_ours() -> None:
    result = _verify({".conflist": b"null", OUTPUT: CHAIN})
    assert result.effect is Effect.BLOCKED
    assert result.first == ".conflist"


def test_the_incident_empty_output_before_a_valid_azure_conflist_is_invalid() -> None:
    result = _verify({OUTPUT: b"", "10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.INVALID
    assert result.first == OUTPUT
    assert not result.runtime_ready
    assert result.runtime_report() == (
        "cni plugin not initialized, because 05-antrea.conflist is empty (0 bytes)"
    )


def test_our_output_refused_on_read_is_invalid_with_the_read_refusal() -> None:
    refusal = Refusal(OUTPUT, Rule.NOT_REGULAR, "is not a regular file")
    result = _verify({OUTPUT: refusal, "10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.INVALID
    assert result.first_refusal == refusal


def test_a_first_file_the_caller_did_not_read_counts_as_unreadable() -> None:
    result = verification.verify([OUTPUT], {}, OUTPUT, EXPECTED)
    assert result.effect is Effect.INVALID
    assert result.first_refusal is not None
    assert result.first_refusal.rule is Rule.UNREADABLE


def test_our_valid_output_running_other_plugins_than_expected_is_stale() -> None:
    result = _verify({OUTPUT: AZURE_BYTES, "10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.STALE
    assert result.runtime_ready
    assert not result.effective
    assert "[azure-vnet, portmap], not [azure-vnet, portmap, antrea]" in result.detail


def test_our_output_with_the_same_types_but_other_settings_is_stale_and_says_so() -> None:
    other = primaries.render(AZURE, {"type": "antrea", "mode": "other"})
    result = _verify({OUTPUT: other, "10-azure.conflist": AZURE_BYTES})
    assert result.effect is Effect.STALE
    assert "(same types, other settings)" in result.detail


def test_every_effect_has_a_case_in_this_file() -> None:
    # Guard: a new Effect must come with a test above (this list is the cases' effects).
    covered = {
        Effect.EFFECTIVE,
        Effect.NO_CONFIG,
        Effect.MISSING,
        Effect.SHADOWED,
        Effect.BLOCKED,
        Effect.INVALID,
        Effect.STALE,
    }
    assert covered == set(Effect)
