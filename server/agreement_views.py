"""What agreement pages draw: a readable word-level diff between two versions, and a party graph (SVG)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import zip_longest

TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
CONTEXT = 2


@dataclass
class DiffLine:
    kind: str  # same / add / del / change / gap
    segments: list[tuple[str, str | None]] = field(default_factory=list)  # (text, None | "ins" | "del")
    old_no: int | None = None
    new_no: int | None = None


def _words(old: str, new: str) -> list[tuple[str, str | None]]:
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    segments: list[tuple[str, str | None]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            segments.append(("".join(a[i1:i2]), None))
            continue
        if i2 > i1:
            segments.append(("".join(a[i1:i2]), "del"))
        if j2 > j1:
            segments.append(("".join(b[j1:j2]), "ins"))
    return segments


def text_diff(old: str, new: str) -> list[DiffLine]:
    """Lines of the new text against the old: unchanged lines folded around the changes, changed
    lines shown word by word."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [
                DiffLine("same", [(a[i], None)], i + 1, j1 + k + 1) for k, i in enumerate(range(i1, i2))
            ]
        elif tag == "delete":
            lines += [DiffLine("del", [(a[i], "del")], i + 1, None) for i in range(i1, i2)]
        elif tag == "insert":
            lines += [DiffLine("add", [(b[j], "ins")], None, j + 1) for j in range(j1, j2)]
        else:
            for k, (old_line, new_line) in enumerate(zip_longest(a[i1:i2], b[j1:j2])):
                if old_line is None:
                    lines.append(DiffLine("add", [(new_line, "ins")], None, j1 + k + 1))
                elif new_line is None:
                    lines.append(DiffLine("del", [(old_line, "del")], i1 + k + 1, None))
                else:
                    lines.append(DiffLine("change", _words(old_line, new_line), i1 + k + 1, j1 + k + 1))
    return _fold(lines)


def _fold(lines: list[DiffLine]) -> list[DiffLine]:
    changed = [i for i, line in enumerate(lines) if line.kind != "same"]
    if not changed:
        return []
    keep = {j for i in changed for j in range(i - CONTEXT, i + CONTEXT + 1)}
    folded: list[DiffLine] = []
    for i, line in enumerate(lines):
        if i in keep:
            folded.append(line)
        elif not folded or folded[-1].kind != "gap":
            folded.append(DiffLine("gap"))
    return folded


@dataclass
class Node:
    label: str
    href: str
    state: str  # signed / pending / declined / withdrawn / mediator / center
    x: float = 0.0
    y: float = 0.0
    initial: str = ""
    hue: int = 0
    title: str = ""


@dataclass
class Graph:
    size: int
    nodes: list[Node]
    edges: list[tuple[Node, Node, str]]  # (from, to, style)
    center: Node | None = None


def party_graph(
    nodes: list[Node], center: Node | None = None, size: int = 300, mesh: bool = True
) -> Graph | None:
    """Nodes on a circle around an optional centre; every pair joined (mesh) or each joined to the centre."""
    if not nodes or len(nodes) > 40:
        return None
    radius, middle = size * 0.36, size / 2
    for i, node in enumerate(nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / len(nodes)
        node.x, node.y = (
            round(middle + radius * math.cos(angle), 1),
            round(middle + radius * math.sin(angle), 1),
        )
        node.initial = (node.label or "?")[:1].upper()
    edges: list[tuple[Node, Node, str]] = []
    if center is not None:
        center.x = center.y = middle
        center.initial = (center.label or "?")[:1].upper()
        edges += [(center, n, "spoke") for n in nodes]
    if mesh and len(nodes) <= 12:
        for i, one in enumerate(nodes):
            for other in nodes[i + 1 :]:
                both = one.state == other.state == "signed"
                edges.append((one, other, "bond" if both else "open"))
    return Graph(size, nodes, edges, center)
