"""THREAD algorithms of RFC 5256 §3: ORDEREDSUBJECT and REFERENCES, over plain rows.

Pure functions, no I/O: the handler hands in one `Item` per matching message (from the columns
ingest precomputed) and renders the returned forest. Every message appears exactly once. Dates
are the sent date (RFC 5256 §2.2: the Date header, else the internal date); ties go to the lower
sequence number, as everywhere in RFC 5256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Steps up the tree REFERENCES may take to refuse links that would make a loop. Each link walks
# from the new parent to its root, so a reply chain n deep costs n²/2: a 3,000-deep chain (far
# deeper than any real discussion) is 4.5 million steps, about half a second; a 20,000-deep one,
# which anyone can mail to an address, would be 200 million (20 s). Past the budget THREAD
# answers NO [LIMIT] instead.
MAX_ANCESTOR_STEPS = 5_000_000


class TooTangled(Exception):
    """Threading these messages would pass MAX_ANCESTOR_STEPS."""


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise TooTangled()


@dataclass(frozen=True)
class Item:
    number: int  # what the response names: the sequence number, or the UID for UID THREAD
    seq: int
    date: datetime
    base_subject: str  # casemapped base subject (RFC 5256 §2.1)
    is_reply: bool  # the subject had Re:/Fwd:/(fwd) (decides subject merging in REFERENCES)
    message_id: str | None
    references: tuple[str, ...]


@dataclass(eq=False)
class Node:
    item: Item | None = None  # None: a dummy for a message referred to but not present
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def key(self) -> tuple[datetime, int]:
        """Sort key: its message's date, or for a dummy the first child's (RFC 5256 §3 step 4)."""
        if self.item is not None:
            return (self.item.date, self.item.seq)
        return min((child.key() for child in self.children), default=(datetime.min, 0))


def render(roots: list[Node]) -> bytes:
    """The THREAD response data: `(1 2 (3)(4 5))` per RFC 5256 §4. Iterative: whoever sends mail
    to the mailbox decides how deep the branching goes, so recursion could overflow the stack."""
    out = bytearray()
    for root in roots:
        out += b"("
        _members(out, root)
        out += b")"
    return bytes(out)


def _members(out: bytearray, start: Node) -> None:
    pending: list[Node | bytes] = [start]  # nodes still to write, and the parentheses around them
    while pending:
        entry = pending.pop()
        if isinstance(entry, bytes):
            out += entry
            continue
        node = entry
        started = False
        while True:  # a chain of only children is written flat: "1 2 3"
            if node.item is not None:
                out += b" %d" % node.item.number if started else b"%d" % node.item.number
                started = True
            if len(node.children) != 1:
                break
            node = node.children[0]
        if node.children:
            if started:
                out += b" "
            for child in reversed(node.children):  # the first child is written first
                pending += [b")", child, b"("]


def ordered_subject(items: list[Item]) -> list[Node]:
    """ORDEREDSUBJECT: group by base subject; the first message (by date) of each group is the
    root and the rest are its children; groups ordered by their first message's date."""
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda i: (i.base_subject, i.date, i.seq)):
        groups.setdefault(item.base_subject, []).append(item)
    roots: list[Node] = []
    for members in groups.values():
        root = Node(members[0])
        root.children = [Node(item, root) for item in members[1:]]
        roots.append(root)
    roots.sort(key=Node.key)
    return roots


def _is_ancestor(node: Node, candidate: Node, budget: _Budget) -> bool:
    """Whether `candidate` is `node` or above it (linking would make a loop)."""
    current: Node | None = node
    steps = 0
    while current is not None:
        if current is candidate:
            break
        current = current.parent
        steps += 1
    budget.spend(steps)
    return current is not None


def _link(parent: Node, child: Node, budget: _Budget) -> None:
    if child.parent is parent or _is_ancestor(parent, child, budget):
        return
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def _build(items: list[Item], budget: _Budget) -> dict[str, Node]:
    """Step 1: one container per message-id, linked parent to child along the references."""
    table: dict[str, Node] = {}
    anonymous = 0
    for item in sorted(items, key=lambda i: i.seq):
        mid = item.message_id
        if mid is None or (mid in table and table[mid].item is not None):
            anonymous += 1  # no id, or a duplicate: a container of its own (step 1A)
            mid = f"\0{anonymous}"
        node = table.setdefault(mid, Node())
        node.item = item
        previous: Node | None = None
        for ref in item.references:  # step 1B: each reference is the parent of the next
            ref_node = table.setdefault(ref, Node())
            if previous is not None and ref_node.parent is None:
                _link(previous, ref_node, budget)
            previous = ref_node
        if previous is not None:  # step 1C: the last reference is the message's parent
            if node.parent is not None and node.parent is not previous:
                node.parent.children.remove(node)
                node.parent = None
            _link(previous, node, budget)
        elif node.parent is not None:
            node.parent.children.remove(node)
            node.parent = None
    return table


def _prune(roots: list[Node]) -> list[Node]:
    """Step 3: drop empty dummies and promote a dummy's children to its level; at the root a
    dummy stays unless it has a single child. Iterative: a reply chain may be thousands deep."""
    order: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    for node in reversed(order):  # every node's children are pruned before the node itself
        kept: list[Node] = []
        for child in node.children:
            if child.item is not None:
                kept.append(child)
                continue
            for grandchild in child.children:
                grandchild.parent = node
            kept.extend(child.children)
        node.children = kept
    result: list[Node] = []
    for root in roots:
        if root.item is None and len(root.children) <= 1:
            for child in root.children:
                child.parent = None
            result.extend(root.children)
        else:
            result.append(root)
    return result


def references(items: list[Item], max_steps: int | None = None) -> list[Node]:
    """REFERENCES (RFC 5256 §3): link by References/In-Reply-To, prune dummies, sort, then
    merge root threads that share a base subject (step 5), and sort every level by date."""
    table = _build(items, _Budget(MAX_ANCESTOR_STEPS if max_steps is None else max_steps))
    roots = _prune([node for node in table.values() if node.parent is None])
    _sort_children(roots)
    roots.sort(key=Node.key)  # step 4
    roots = _merge_subjects(roots)
    _sort_children(roots)  # step 6
    return roots


def _subject_of(node: Node) -> Item | None:
    return node.item if node.item is not None else (node.children[0].item if node.children else None)


def _adopt(parent: Node, child: Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """Step 5: threads whose roots share a base subject are gathered under one of them."""
    table: dict[str, Node] = {}
    for root in roots:  # 5B-5C: a dummy, then a non-reply, is preferred as the subject's thread
        item = _subject_of(root)
        if item is None or not item.base_subject:
            continue
        current = table.get(item.base_subject)
        current_item = _subject_of(current) if current is not None else None
        if (
            current is None
            or (root.item is None and current.item is not None)
            or (
                current.item is not None
                and current_item is not None
                and current_item.is_reply
                and not item.is_reply
            )
        ):
            table[item.base_subject] = root
    slots = list(roots)
    gone: set[int] = set()  # id() of the roots now below another container
    for root in roots:  # 5E
        item = _subject_of(root)
        if id(root) in gone or item is None or not item.base_subject:
            continue
        target = table[item.base_subject]
        if target is root:
            continue
        gone.add(id(root))
        if target.item is None and root.item is None:  # both dummies: one takes the other's children
            for child in root.children:
                _adopt(target, child)
        elif target.item is None or (
            root.item is not None and root.item.is_reply and not target.item.is_reply
        ):
            _adopt(target, root)
        else:  # siblings under a new dummy, in the table's container's place
            dummy = Node(None)
            slots[slots.index(target)] = dummy
            gone.add(id(target))
            _adopt(dummy, target)
            _adopt(dummy, root)
            table[item.base_subject] = dummy
    return [slot for slot in slots if id(slot) not in gone]


def _sort_children(nodes: list[Node]) -> None:
    stack = list(nodes)
    while stack:
        node = stack.pop()
        node.children.sort(key=Node.key)
        stack.extend(node.children)
