"""The README's validation-rules table names every rule validation can refuse with."""

from __future__ import annotations

from chainfsm.validation import Rule
from tests.support.readme_tables import readme_rules


def test_the_readme_rules_table_has_a_row_for_every_rule() -> None:
    assert sorted(readme_rules()) == sorted(rule.value for rule in Rule)
