"""``python -m segments_core.rules``: print the rule table (docs/rules.md holds the copy)."""

from shopper_segments.core.rules.book import rule_table

print(rule_table())
