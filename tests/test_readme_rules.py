"""docs/rules.md's rule table is the rulebook's own (segments_core.rules.rule_table)."""

from __future__ import annotations

from pathlib import Path

from shopper_segments.core.rules import RULES, rule_table

RULES_DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def test_rules_doc_table_is_generated_from_the_rulebook() -> None:
    text = RULES_DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, f"docs/rules.md: one {START} ... {END} block"
    block = text.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == rule_table().strip(), (
        "docs/rules.md's rule table differs from segments_core.rules: run `python scripts/readme_rules.py`"
    )


def test_every_rule_is_a_row() -> None:
    table = rule_table().splitlines()
    assert len(table) == 2 + len(RULES)
    assert all(f"`{r.code}`" in row for r, row in zip(RULES, table[2:], strict=True))
