from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from discount_calculator import MAX_DISCOUNT, MIN_DISCOUNT
from discount_calculator.calculator import random_discount

DRAWS = 21_000
# Chi-square critical value for 20 degrees of freedom at p = 0.001: a fair die with 21 faces exceeds it once in
# a thousand seeds. The seeds are fixed, so the test is repeatable.
CHI_SQUARE_CRITICAL = 45.31
# Two processes with independent seeds draw the same 40 discounts once in 21**40.
DRAWS_PER_PROCESS = 40


@pytest.mark.promise("The shared package gives every discount from 0 to 20, each equally likely", layer="offline")
def test_every_discount_is_an_int_from_0_to_20() -> None:
    discounts = [random_discount() for _ in range(2_000)]

    assert all(type(discount) is int for discount in discounts)
    assert min(discounts) >= MIN_DISCOUNT == 0
    assert max(discounts) <= MAX_DISCOUNT == 20


def test_a_seeded_generator_gives_a_repeatable_sequence() -> None:
    first = [random_discount(random.Random(7)) for _ in range(3)]
    again = [random_discount(random.Random(7)) for _ in range(3)]
    generator_a, generator_b = random.Random(11), random.Random(11)

    assert first == again
    assert [random_discount(generator_a) for _ in range(50)] == [random_discount(generator_b) for _ in range(50)]


@pytest.mark.promise("The shared package gives every discount from 0 to 20, each equally likely", layer="offline")
def test_discounts_are_uniform_over_the_whole_range() -> None:
    for seed in (1, 2, 3):
        generator = random.Random(seed)
        counts = Counter(random_discount(generator) for _ in range(DRAWS))
        expected = DRAWS / (MAX_DISCOUNT - MIN_DISCOUNT + 1)
        chi_square = sum((counts[value] - expected) ** 2 / expected for value in range(MIN_DISCOUNT, MAX_DISCOUNT + 1))

        assert set(counts) == set(range(MIN_DISCOUNT, MAX_DISCOUNT + 1)), "both ends and every value in between"
        assert chi_square < CHI_SQUARE_CRITICAL, f"seed {seed}: chi-square {chi_square:.1f}"


def test_forked_processes_draw_different_discounts() -> None:
    """A server forks its workers after importing the package: each must get its own sequence."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which reports through the pipe and exits
        os.write(writer, bytes(random_discount() for _ in range(DRAWS_PER_PROCESS)))
        os._exit(0)
    os.close(writer)
    parent_draws = bytes(random_discount() for _ in range(DRAWS_PER_PROCESS))
    with os.fdopen(reader, "rb") as pipe:
        child_draws = pipe.read()
    os.waitpid(child, 0)

    assert len(child_draws) == DRAWS_PER_PROCESS
    assert child_draws != parent_draws, "the child repeated the parent's sequence"
