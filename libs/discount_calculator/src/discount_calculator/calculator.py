"""Discounts in whole percent."""

from __future__ import annotations

import os
import random

MIN_DISCOUNT = 0
MAX_DISCOUNT = 20

_default_generator = random.Random()  # noqa: S311 - a discount is not a secret
# A forking server imports this module once and forks its workers from that process: without a fresh seed in each
# child, every worker would hand out the same discounts in the same order (the stdlib does this for `random` itself).
os.register_at_fork(after_in_child=_default_generator.seed)


def random_discount(generator: random.Random | None = None) -> int:
    """A discount from MIN_DISCOUNT to MAX_DISCOUNT inclusive, every value equally likely.

    Pass a seeded ``random.Random`` to get a repeatable sequence in tests.
    """
    return (generator or _default_generator).randint(MIN_DISCOUNT, MAX_DISCOUNT)
