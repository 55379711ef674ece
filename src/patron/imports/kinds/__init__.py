"""The kinds of file `patron import` reads, by name."""

from __future__ import annotations

from patron.errors import InvalidInput
from patron.imports.kinds.activity import Interactions, Responses, Tickets
from patron.imports.kinds.base import Kind, Options
from patron.imports.kinds.customers import Customers
from patron.imports.kinds.orders import Orders

KINDS: dict[str, type[Kind]] = {
    kind.name: kind for kind in (Customers, Orders, Interactions, Tickets, Responses)
}


def kind_named(name: str, options: Options) -> Kind:
    """The import kind called `name`, or a plain error listing the kinds there are."""
    try:
        return KINDS[name](options)
    except KeyError:
        raise InvalidInput(
            f"'{name}' is not an import kind (use one of: {', '.join(KINDS)})"
        ) from None


__all__ = ["KINDS", "Kind", "Options", "kind_named"]
