"""docs/design.md's validation-rules table names every rule validation can refuse with."""

from __future__ import annotations

from chainfsm.core.validation import Rule
from tests.support.docs_tables import documented_rules


def test_the_documented_rules_table_has_a_row_for_every_rule() -> None:
    assert sorted(documented_rules()) == sorted(rule.value for rule in Rule)
