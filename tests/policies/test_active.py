"""Active learning question selection on data with a planted structure."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError, NotFittedError
from explorec.policies.active import QuestionSelector, binary_entropy


def _two_tribes() -> tuple[Interactions, np.ndarray]:
    """40 users in two tribes. Item 0: everybody; items 1-5: tribe A; items 6-10: tribe B;
    item 11: one user. Item 1 is known by exactly tribe A: the perfect first question."""
    users, items = [], []
    for u in range(40):
        tribe_a = u < 20
        liked = [0] + ([1, 2, 3, 4, 5] if tribe_a else [6, 7, 8, 9, 10])
        if not tribe_a and u % 2:
            liked.append(2)  # half of tribe B also knows item 2
        for i in liked:
            users.append(u)
            items.append(i)
    users.append(0)
    items.append(11)
    data = Interactions.from_arrays(
        users, items, user_ids=[f"u{u}" for u in range(40)], item_ids=[str(i) for i in range(12)]
    )
    vectors = np.zeros((12, 2))
    vectors[[0, 11]] = [1.0, 1.0]
    vectors[1:6] = [1.0, 0.0]
    vectors[6:11] = [0.0, 1.0]
    return data, vectors


def test_popular_asks_the_most_popular_first() -> None:
    data, _ = _two_tribes()
    sel = QuestionSelector(strategy="popular").fit(data)
    assert sel.next_question({}) == 0
    assert sel.next_question({0: True}) == 2  # 30 users know item 2


def test_uncertainty_asks_the_item_that_splits_the_users_in_half() -> None:
    data, _ = _two_tribes()
    sel = QuestionSelector(strategy="uncertainty").fit(data)
    first = sel.next_question({})
    assert first in range(1, 11) and first != 2  # known by exactly half of the users
    # after "yes" to a tribe-A item, the posterior says the user knows the tribe's other items
    post = sel.posterior({1: True})
    assert post[3] > 0.85 and post[7] < 0.15


def test_personalized_asks_the_likeliest_yes() -> None:
    data, _ = _two_tribes()
    sel = QuestionSelector(strategy="personalized").fit(data)
    assert sel.next_question({}) == 0  # everybody knows item 0
    # after "yes" to item 6 (tribe B), the likeliest yes is another tribe-B item
    assert sel.next_question({0: True, 6: True}) in (2, 7, 8, 9, 10)
    assert sel.next_question({0: True, 6: True, 2: False}) in (7, 8, 9, 10)


def test_pop_entropy_and_diverse() -> None:
    data, vectors = _two_tribes()
    # log(pop) * H(share): item 2 -> log(30) * H(0.75) = 2.76; items 1, 3..10 -> log(20) * H(0.5) = 3.00;
    # item 0 (everybody) -> 0. Ties go to the pool order (popularity, then index): item 1.
    assert QuestionSelector(strategy="pop-entropy").fit(data).next_question({}) == 1
    div = QuestionSelector(strategy="diverse").fit(data, item_vectors=vectors)
    first = div.next_question({})
    second = div.next_question({first: True})
    third = div.next_question({first: True, second: False})
    assert first == 0
    assert {second, third} == {1, 6} or (second in range(1, 6)) != (third in range(1, 6))


def test_random_is_seeded_and_ask_runs_the_loop() -> None:
    data, _ = _two_tribes()
    a = QuestionSelector(strategy="random", seed=3).fit(data).ask(5, lambda item: item < 6)
    b = QuestionSelector(strategy="random", seed=3).fit(data).ask(5, lambda item: item < 6)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(set(a[0].tolist())) == 5
    np.testing.assert_array_equal(a[1], a[0] < 6)


def test_bad_input() -> None:
    data, _ = _two_tribes()
    with pytest.raises(ConfigError, match="strategy must be one of"):
        QuestionSelector(strategy="smart")
    with pytest.raises(NotFittedError):
        QuestionSelector().next_question({})
    with pytest.raises(ConfigError, match="item_vectors"):
        QuestionSelector(strategy="diverse").fit(data)
    sel = QuestionSelector(strategy="popular", pool_size=2).fit(data)
    with pytest.raises(DataError, match="no item left"):
        sel.ask(3, lambda item: True)


def test_binary_entropy() -> None:
    np.testing.assert_allclose(binary_entropy([0.5, 0.0, 1.0]), [1.0, 0.0, 0.0], atol=1e-9)
