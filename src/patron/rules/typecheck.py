"""Static type rules shared by the checker and the function table."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from patron.errors import RuleError
from patron.rules.nodes import NUMERIC, Node, Type, describe, render

UNTYPED = frozenset({Type.null, Type.any})


def quoted(node: Node, limit: int = 60) -> str:
    """A node's text in backticks for a message, shortened when long."""
    text = render(node)
    return f"`{text if len(text) <= limit else text[: limit - 1] + '…'}`"


def tags_misused(node: Node) -> RuleError:
    """The error for a tag set used as a plain value."""
    return RuleError(
        f"{quoted(node)} is a tag set: test it with HAS_TAG({render(node)}, 'vip'), "
        f"HAS_ANY_TAG or TAG_COUNT"
    )


def require(node: Node, allowed: Collection[Type], needs: str) -> None:
    """Refuse a node whose static type is not one of `allowed` (NULL and untyped pass)."""
    if node.type in allowed or node.type in UNTYPED:
        return
    if node.type is Type.tags:
        raise tags_misused(node)
    raise RuleError(f"{quoted(node)} is {describe(node.type)}, but {needs}")


def _family(kind: Type) -> Type:
    return Type.number if kind in NUMERIC else kind


def unify(nodes: Sequence[Node], context: str) -> Type:
    """The common type of parts that must agree (compared, or alternatives of one value)."""
    for node in nodes:
        if node.type is Type.tags:
            raise tags_misused(node)
    typed = [node for node in nodes if node.type not in UNTYPED]
    for node in typed[1:]:
        if _family(node.type) is not _family(typed[0].type):
            raise RuleError(
                f"{context} mixes {describe(typed[0].type)} ({quoted(typed[0])}) "
                f"with {describe(node.type)} ({quoted(node)})"
            )
    if any(node.type is Type.any for node in nodes):
        return Type.any
    if not typed:
        return Type.null
    if any(node.type is Type.number for node in typed):
        return Type.number
    return typed[0].type
