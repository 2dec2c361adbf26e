"""``explorec serve --demo``'s store: the generated shop written through the store, idempotently."""

from __future__ import annotations

from pathlib import Path

from explorec.service.demo import seed_demo
from explorec.store import Store


def test_seed_demo_writes_the_generated_shop_once(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        store.migrate()
        counts = seed_demo(store, n_users=40, n_items=60, seed=3)
        assert (counts.items, counts.users) == (60, 40)
        assert len(store.items()) == 60
        assert store.count_events() == counts.events > 0
        item = store.get_item("I00000")
        assert item is not None and item.text and item.categories  # text and departments for the model
        again = seed_demo(store, n_users=40, n_items=60, seed=3)
        assert again == counts and store.count_events() == counts.events  # nothing added twice
    finally:
        store.close()
