from __future__ import annotations

import random
import string

import pytest

from patron.customers import normalise
from patron.imports.references import id_initials


@pytest.mark.parametrize("external_id", ["C00001", "DEMO-C00000015", "a b-c", " x\tY ", "客户-7"])
def test_id_initials_are_the_pinyin_initials(external_id: str) -> None:
    assert id_initials(external_id) == normalise.initials(external_id)


def test_id_initials_agree_on_random_ascii_ids() -> None:
    chance = random.Random(5)
    ids = [
        "".join(chance.choice(string.printable) for _ in range(chance.randint(1, 20)))
        for _ in range(2_000)
    ]
    assert [id_initials(i) for i in ids] == [normalise.initials(i) for i in ids]
