"""Rewrite docs/rules.md's rule table (between the rules markers) from the rulebook.

Usage: ``python scripts/readme_rules.py`` (``tests/test_readme_rules.py`` fails until it is run
after a change to :data:`segments_core.rules.RULES`).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shopper_segments.core.rules import rule_table  # noqa: E402

RULES_DOC = ROOT / "docs" / "rules.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def split(text: str) -> tuple[str, str, str]:
    """The page's text as (before and the start marker, the block, the end marker and after)."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"docs/rules.md: expected one {START} ... {END} block")
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    return head + START, block, END + tail


def render(text: str) -> str:
    head, _, tail = split(text)
    return f"{head}\n{rule_table()}\n{tail}"


def main() -> int:
    text = RULES_DOC.read_text(encoding="utf-8")
    new = render(text)
    if new != text:
        RULES_DOC.write_text(new, encoding="utf-8")
        print("docs/rules.md: rule table rewritten")
    else:
        print("docs/rules.md: rule table up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
