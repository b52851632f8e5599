"""What a two-way pass did or, in a dry run, would do: its lines, counts, refusals and holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from syncd.state import Item


@dataclass(frozen=True)
class PlanLine:
    action: str
    item: Item
    reason: str


@dataclass
class Report:
    lines: list[PlanLine] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: dict[str, str] = field(default_factory=dict)  # target or account -> why
    held: dict[str, str] = field(default_factory=dict)  # account -> guard message
    orphans: dict[str, tuple[int, list[str]]] = field(default_factory=dict)  # target -> (count, some keys)

    def merge(self, other: Report) -> None:
        self.lines += other.lines
        for action, count in other.counts.items():
            self.counts[action] += count
        self.refused.update(other.refused)
        self.held.update(other.held)
        self.orphans.update(other.orphans)

    def add(self, action: str, item: Item, reason: str, keep_line: bool = True) -> None:
        self.counts[action] += 1
        if keep_line:
            self.lines.append(PlanLine(action, item, reason))
