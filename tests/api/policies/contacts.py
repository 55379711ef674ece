"""Access policies of the contact routes of a customer.

The generated cases use person customers, so a caller allowed past the role and record
checks meets the company-only rule (422); tests/customers/test_contacts.py covers success.
"""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, customer_write

BASE = "/api/v1/customers/{customer_id}/contacts"
NO_CONTACT = {"contact_id": lambda w: 0}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", BASE): Policy(customer_read(200)),
    ("POST", BASE): Policy(
        customer_write(422, agent=True), body=lambda w, n: {"name": f"联系人{n}"}
    ),
    ("PATCH", BASE + "/{contact_id}"): Policy(
        customer_write(422, agent=True), body=lambda w, n: {"title": "经理"}, path_params=NO_CONTACT
    ),
    ("DELETE", BASE + "/{contact_id}"): Policy(
        customer_write(422, agent=True), path_params=NO_CONTACT
    ),
}
