"""A tiny dataset with a planted answer that every model must solve (the contract suite uses it).

Items fall into a few topical groups (fruit, vehicles, musical instruments). Every user loves exactly
one group: all of the user's interactions are items of that group, in a random order. Items of one
group therefore co-occur, and their catalogue text shares the group's vocabulary, so both
collaborative and text models can find the answer:

* the held-out last item of each user is an unseen item of the user's own group, so a model that
  learned the groups puts it in its top ``WARM_PER_GROUP // 2`` items, where popularity does not;
* each group also has ``COLD_PER_GROUP`` cold items (text, but no interactions at all), so a text
  model must rank the cold items of the user's group above the cold items of the other groups.

Examples
--------
>>> data = known_answer_dataset()
>>> data.interactions.n_users, data.interactions.n_items
(36, 30)
>>> split = known_answer_split()
>>> len(split.test) == data.interactions.n_users, split.cold_items.tolist()
(True, [8, 9, 18, 19, 28, 29])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Dataset, Interactions, Split

#: (group name, shared description words, item nouns); the last ``COLD_PER_GROUP`` nouns are cold
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "fruit",
        "sweet juicy ripe fruit, fresh from the orchard, eaten as a healthy snack",
        ("apple", "banana", "cherry", "mango", "pear", "plum", "grape", "peach", "kiwi", "lemon"),
    ),
    (
        "vehicle",
        "fast motor vehicle with wheels and an engine, driven on the road for transport",
        ("car", "truck", "bus", "van", "motorcycle", "scooter", "tractor", "taxi", "lorry", "jeep"),
    ),
    (
        "instrument",
        "musical instrument played by a musician, making melody and sound in a concert",
        ("guitar", "piano", "violin", "drum", "flute", "trumpet", "cello", "harp", "saxophone", "clarinet"),
    ),
)
#: items of a group that users interact with
WARM_PER_GROUP = 8
#: items of a group that nobody interacts with (text only)
COLD_PER_GROUP = 2
#: users who love each group
USERS_PER_GROUP = 12
#: interactions per user (the last one is the test item, the one before it the validation item)
EVENTS_PER_USER = 6
_T0 = 1_600_000_000.0
_DAY = 86_400.0


def known_answer_dataset(seed: int = 0) -> Dataset:
    """The planted-answer dataset: 3 groups x 10 items (8 warm + 2 cold), 3 x 12 users.

    Parameters
    ----------
    seed : int
        Seeds which items each user picks and in which order; the structure is the same for all seeds.

    Returns
    -------
    Dataset
        ``interactions``: 36 users x 30 items, 6 events per user, all within the user's group,
        timestamps one day apart in each user's order. ``catalog``: fields ``title`` and ``text``,
        attributes ``group`` (int64) and ``cold`` (bool). ``user_features["group"]``: int64[n_users].
        ``split``: the leave-last-out split of ``known_answer_split``.
    """
    rng = np.random.default_rng(seed)
    n_groups = len(GROUPS)
    per_group = WARM_PER_GROUP + COLD_PER_GROUP
    item_group = np.repeat(np.arange(n_groups, dtype=np.int64), per_group)
    cold = np.tile(np.arange(per_group) >= WARM_PER_GROUP, n_groups)
    user_group = np.repeat(np.arange(n_groups, dtype=np.int64), USERS_PER_GROUP)

    users: list[int] = []
    items: list[int] = []
    times: list[float] = []
    for group in range(n_groups):
        picks = _group_picks(rng)  # [USERS_PER_GROUP, EVENTS_PER_USER]
        for offset, row in enumerate(picks):
            user = group * USERS_PER_GROUP + offset
            for position, item in enumerate(row):
                users.append(user)
                items.append(int(item) + group * per_group)
                times.append(_T0 + position * _DAY + user * 60.0)

    item_ids = [f"{name}-{noun}" for name, _, nouns in GROUPS for noun in nouns]
    user_ids = [f"u{user:02d}-{GROUPS[g][0]}" for user, g in enumerate(user_group)]
    interactions = Interactions.from_arrays(
        np.asarray(users),
        np.asarray(items),
        user_ids=user_ids,
        item_ids=item_ids,
        timestamp=np.asarray(times),
    )
    titles = np.array([noun.capitalize() for _, _, nouns in GROUPS for noun in nouns], dtype=object)
    texts = np.array(
        [f"{noun}: a {words}. A {name}." for name, words, nouns in GROUPS for noun in nouns], dtype=object
    )
    catalog = Catalog(
        interactions.item_ids,
        fields={"title": titles, "text": texts},
        attributes={"group": item_group, "cold": cold},
    )
    split = _leave_last_out(interactions, np.flatnonzero(cold).astype(np.int64))
    return Dataset(
        "known-answer",
        interactions,
        catalog,
        user_features={"group": user_group},
        split=split,
        source=f"explorec.data.toy.known_answer_dataset(seed={seed})",
    )


def known_answer_split(seed: int = 0) -> Split:
    """Leave-last-out split of ``known_answer_dataset(seed)``.

    Each user's last item is the test item, the one before it the validation item, the rest train.
    Every test item is an item of the user's group that is not in the user's ``test_history``.
    ``Split.cold_items`` lists the cold items (no interactions anywhere).
    """
    split = known_answer_dataset(seed).split
    assert split is not None  # built above; not caller input
    return split


def _group_picks(rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Each user's items (warm positions within the group), redrawn until every warm item is trained on."""
    while True:
        picks = np.stack([rng.permutation(WARM_PER_GROUP)[:EVENTS_PER_USER] for _ in range(USERS_PER_GROUP)])
        # the last two of each row are held out; an item absent from train would be accidentally cold
        if np.unique(picks[:, : EVENTS_PER_USER - 2]).size == WARM_PER_GROUP:
            return picks.astype(np.int64)


def _leave_last_out(data: Interactions, cold_items: npt.NDArray[np.int64]) -> Split:
    order = data.chronological_order()
    users = data.user[order]
    # position of each row from the end of its user's sequence: 0 = last
    ends = np.searchsorted(users, users, side="right")
    from_end = ends - 1 - np.arange(users.size)
    return Split(
        train=data.select(order[from_end >= 2]),
        valid=data.select(order[from_end == 1]),
        test=data.select(order[from_end == 0]),
        name="known-answer:leave-last-out",
        cold_items=cold_items,
    )
