"""SASRec: causal mask, truncation rule, cold users, persistence errors, a planted sequence, and each
objective checked against a known answer (adversarial step, NT-Xent of the views, next category)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from explorec.data.interactions import Catalog, Interactions
from explorec.data.toy import known_answer_dataset
from explorec.errors import ConfigError
from explorec.models.augment import info_nce
from explorec.models.base import Recommender
from explorec.models.sasrec import SASRec, SASRecConfig, SASRecNet, length_bucketed_batches, training_windows
from explorec.models.torch_base import item_attribute_bags, load_state_checked, pad_sequences
from explorec.persist import write_manifest

torch.set_num_threads(1)

N_ITEMS = 20
TINY: dict[str, Any] = {
    "dim": 32,
    "n_heads": 2,
    "n_layers": 1,
    "max_len": 8,
    "dropout": 0.1,
    "attn_dropout": 0.0,
    "lr": 0.01,
    "batch_size": 16,
    "progress": False,
    "device": "cpu",
}


def planted(n_users: int = 60, length: int = 8) -> tuple[Interactions, Interactions, Catalog]:
    """User u walks the cycle u, u+1, u+2, ... (mod 20); the last step of each walk is held out."""
    users, items = [], []
    for u in range(n_users):
        for j in range(length):
            users.append(u)
            items.append((u + j) % N_ITEMS)
    data = Interactions.from_arrays(
        users, items, user_ids=[f"u{u}" for u in range(n_users)], item_ids=[f"i{i}" for i in range(N_ITEMS)]
    )
    last = np.r_[np.diff(data.user) != 0, True]
    catalog = Catalog(
        data.item_ids,
        fields={"text": np.array([f"item number {i} in the cycle" for i in range(N_ITEMS)], dtype=object)},
        attributes={"parity": np.arange(N_ITEMS) % 2},
    )
    return data.select(~last), data.select(last), catalog


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, Interactions, Catalog]:
    return planted()


@pytest.fixture(scope="module")
def fitted(data: tuple[Interactions, Interactions, Catalog]) -> SASRec:
    train, _, catalog = data
    return SASRec(**TINY, epochs=40).fit(train, catalog)


def test_planted_successor_is_learned_to_near_perfect_hit_at_1(
    fitted: SASRec, data: tuple[Interactions, Interactions, Catalog]
) -> None:
    train, test, _ = data
    scores = fitted.score(test.user, history=train)
    hit_at_1 = float(np.mean(scores.argmax(1) == test.item))
    assert hit_at_1 >= 0.95
    assert fitted.history_.losses[-1] < fitted.history_.losses[0] / 3


def test_causal_mask_future_items_do_not_change_the_past() -> None:
    cfg = SASRecConfig(n_items=10, dim=8, n_layers=2, n_heads=2, max_len=6, dropout=0.0, attn_dropout=0.0)
    net = SASRecNet(cfg).eval()
    seq = torch.tensor([[0, 3, 5, 7, 2, 9]])
    changed = seq.clone()
    changed[0, 4] = 4  # position 4 of 6
    with torch.no_grad():
        a, _ = net(seq)
        b, _ = net(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4], rtol=0, atol=0)
    assert not torch.allclose(a[:, 4:], b[:, 4:])
    with torch.no_grad():
        padded = net(torch.tensor([[0, 0, 0, 0, 0, 0]]))[0]
    assert torch.isfinite(padded).all()  # all-padding rows do not produce NaN


def test_truncation_keeps_the_most_recent_items(data: tuple[Interactions, Interactions, Catalog]) -> None:
    train, _, catalog = data
    model = SASRec(**{**TINY, "max_len": 3}, epochs=2).fit(train, catalog)
    full = Interactions.from_arrays(
        [0] * 6, [1, 2, 3, 4, 5, 6], user_ids=train.user_ids, item_ids=train.item_ids
    )
    tail = Interactions.from_arrays([0] * 3, [4, 5, 6], user_ids=train.user_ids, item_ids=train.item_ids)
    np.testing.assert_allclose(model.score([0], history=full), model.score([0], history=tail), atol=1e-6)
    np.testing.assert_array_equal(pad_sequences([np.arange(5), np.array([7])], 3), [[3, 4, 5], [0, 0, 8]])


def test_training_windows_cover_every_target_once() -> None:
    seqs = [np.arange(10), np.array([3]), np.array([4, 5])]
    windows = training_windows(seqs, max_len=4)
    assert [w.tolist() for w in windows] == [[5, 6, 7, 8, 9], [1, 2, 3, 4, 5], [0, 1], [4, 5]]
    targets = sorted(int(x) for w in windows[:3] for x in w[1:])
    assert targets == list(range(1, 10))
    batches = length_bucketed_batches([w.size for w in windows], 2, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == [0, 1, 2, 3]


def test_random_batching_mixes_lengths_and_still_learns(
    data: tuple[Interactions, Interactions, Catalog],
) -> None:
    """batching="random" (RecTools' order) mixes lengths in a batch; "length" groups similar ones."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(64):  # half the users have 3 items, half 9
        for j in range(3 if u % 2 else 9):
            users.append(u)
            items.append((u + j) % N_ITEMS)
    mixed = Interactions.from_arrays(
        users, items, user_ids=[f"u{u}" for u in range(64)], item_ids=[f"i{i}" for i in range(N_ITEMS)]
    )

    def widths(batching: str) -> set[tuple[int, int]]:
        model = SASRec(**{**TINY, "batch_size": 8}, batching=batching, epochs=1)
        model._module_config(mixed, None)
        batches = model._batches(mixed, None)(0, rng)
        assert sum(int((b["target"] > 0).sum()) for b in batches) == 32 * 2 + 32 * 8  # every target once
        return {(int((b["input"] > 0).sum(1).min()), int((b["input"] > 0).sum(1).max())) for b in batches}

    assert widths("length") == {(2, 2), (8, 8)}  # one pool of 8 batches, sorted: no batch mixes lengths
    assert any(lo < hi for lo, hi in widths("random"))
    # weighting="position": each batch's mean loss scaled by its share of the positions (mean 1)
    model = SASRec(**{**TINY, "batch_size": 8}, weighting="position", epochs=1)
    model._module_config(mixed, None)
    batches = model._batches(mixed, None)(0, rng)
    scales = np.array([float(b["scale"]) for b in batches])
    positions = np.array([int((b["target"] > 0).sum()) for b in batches])
    np.testing.assert_allclose(scales, positions / positions.mean(), rtol=1e-6)
    assert sorted(set(positions.tolist())) == [16, 64]  # a batch of 3-item users vs one of 9-item users
    train, test, catalog = data
    model = SASRec(**TINY, batching="random", epochs=40).fit(train, catalog)
    assert float(np.mean(model.score(test.user, history=train).argmax(1) == test.item)) >= 0.9


def test_empty_history_gets_the_popularity_prior(
    fitted: SASRec, data: tuple[Interactions, Interactions, Catalog]
) -> None:
    train, _, _ = data
    nobody = train.select(train.user != 5)  # user 5 has no history here
    scores = fitted.score([5, 6], history=nobody)
    np.testing.assert_allclose(scores[0], np.log1p(train.item_counts()).astype(np.float32))
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[1], fitted.score([6], history=train)[0], atol=1e-6)


def test_config_mismatch_on_load_names_both_values(fitted: SASRec, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["params"]["dim"] = 48
    (path / "config.json").write_text(json.dumps(config))
    write_manifest(path)  # a consistent folder whose parts disagree, not a corrupt file
    with pytest.raises(ConfigError, match=r"dim=32 in the saved module, but dim=48"):
        Recommender.load(path)
    other = SASRecNet(SASRecConfig(n_items=N_ITEMS, dim=16, n_layers=1, max_len=8))
    state = torch.load(path / "module.pt", weights_only=True)
    with pytest.raises(ConfigError, match=r"items.id_emb.weight has shape \(22, 32\).*\(22, 16\)"):
        load_state_checked(other, state, "module.pt")


def test_save_load_keeps_history_and_scores(fitted: SASRec, tmp_path: Path) -> None:
    loaded = Recommender.load(fitted.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec)
    assert loaded.history_.losses == fitted.history_.losses
    np.testing.assert_array_equal(loaded.score([0, 1]), fitted.score([0, 1]))


def test_ffn_mult_sets_the_feed_forward_width_and_survives_save_load(
    data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    """RecTools' / the SASRec paper's block width (ffn_mult=1) still learns the planted successor."""
    train, test, catalog = data
    model = SASRec(**TINY, ffn_mult=1, epochs=40).fit(train, catalog)
    widths = [
        p.shape for n, p in model.module_.named_parameters() if n.startswith("blocks.0.ffn") and p.dim() == 2
    ]
    assert widths == [(32, 32), (32, 32)]
    assert float(np.mean(model.score(test.user, history=train).argmax(1) == test.item)) >= 0.9
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec) and loaded.ffn_mult == 1
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))


def test_authors_block_and_xavier_init_learn_the_planted_successor_and_survive_save_load(
    data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    """block="sasrec" + init="xavier" (the layout and initialisation RecTools keeps from SASRec's authors)."""
    from explorec.models.transformer import SASRecBlock

    train, test, catalog = data
    model = SASRec(**TINY, block="sasrec", init="xavier", ffn_mult=1, epochs=40).fit(train, catalog)
    assert all(isinstance(b, SASRecBlock) for b in model.module_.blocks)
    assert float(np.mean(model.score(test.user, history=train).argmax(1) == test.item)) >= 0.9
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec) and (loaded.block, loaded.init) == ("sasrec", "xavier")
    assert all(isinstance(b, SASRecBlock) for b in loaded.module_.blocks)
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))
    # the explanation path reads the same block's attention: weights over the history summing to 1
    weights = model.history_attention(np.array([3, 4, 5, 6]))
    assert weights.shape == (4,) and abs(weights.sum() - 1) < 1e-6 and (weights >= 0).all()


def test_padding_sink_learns_and_a_users_scores_do_not_depend_on_the_batch_width(
    data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    """pad_attention="sink" counts the padding up to max_len, not up to the batch's widest sequence."""
    train, test, catalog = data
    model = SASRec(**TINY, pad_attention="sink", epochs=40).fit(train, catalog)
    assert float(np.mean(model.score(test.user, history=train).argmax(1) == test.item)) >= 0.9
    short = Interactions.from_arrays(
        [0, 0, 1, 1, 1, 1, 1, 1],
        [3, 4, 5, 6, 7, 8, 9, 10],
        user_ids=["a", "b"],
        item_ids=list(train.item_ids),
    )
    alone = model.score([0], history=short.select(short.user == 0))
    together = model.score([0, 1], history=short)
    np.testing.assert_allclose(alone[0], together[0], rtol=1e-5, atol=1e-5)
    masked = SASRec(**TINY, epochs=1).fit(train, catalog)
    assert masked.module_.cfg.pad_attention == "masked" and model.module_.cfg.pad_attention == "sink"
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec) and loaded.pad_attention == "sink"
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))


@pytest.mark.parametrize("pad_attention", ["masked", "sink"])
def test_a_batch_of_mixed_lengths_runs_in_length_groups_with_the_same_hidden_states(
    pad_attention: str,
) -> None:
    from explorec.models.sasrec import length_groups

    torch.manual_seed(4)
    net = SASRecNet(
        SASRecConfig(n_items=30, dim=16, n_heads=2, max_len=12, pad_attention=pad_attention)
    ).eval()
    lengths = [1, 2, 2, 3, 3, 3, 4, 12, 2, 5, 1, 7]
    seq = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, n in enumerate(lengths):
        seq[row, -n:] = torch.randint(1, 31, (n,))
    groups = length_groups(seq)
    assert groups is not None and sum(r.numel() for r, _ in groups) == len(lengths)
    assert [w for _, w in groups] == [2, 3, 4, 12]  # sorted lengths cut into 4 parts of 3 rows
    with torch.no_grad():
        grouped, _ = net(seq)
        for row, n in enumerate(lengths):  # each row alone, at its own width
            alone, _ = net(seq[row : row + 1, -n:])
            torch.testing.assert_close(grouped[row, -n:], alone[0], rtol=1e-5, atol=1e-5)
    equal = torch.randint(1, 31, (16, 6))  # rows of one length: one pass, as before
    assert length_groups(equal) is None


def test_xavier_init_starts_the_item_table_near_zero() -> None:
    n_items, dim = 2000, 32
    xavier = SASRecNet(SASRecConfig(n_items=n_items, dim=dim, init="xavier"))
    normal = SASRecNet(SASRecConfig(n_items=n_items, dim=dim))
    rows = xavier.items.id_emb.weight.detach()
    assert torch.all(rows[0] == 0)  # padding
    expected = (2 / (n_items + 2 + dim)) ** 0.5
    assert abs(float(rows[1:].std()) - expected) < 0.05 * expected
    assert abs(float(normal.items.id_emb.weight.detach()[1:].std()) - dim**-0.5) < 0.05 * dim**-0.5
    qkv = xavier.blocks[0].attn.qkv.weight.detach()  # [3D, D]
    assert abs(float(qkv.std()) - (2 / (4 * dim)) ** 0.5) < 0.1 * (2 / (4 * dim)) ** 0.5


def _one_batch(model: SASRec, train: Interactions, catalog: Catalog) -> dict[str, torch.Tensor]:
    """The first training batch the fitted model's batch source yields (no dropout in these models)."""
    return model._batches(train, catalog)(0, np.random.default_rng(0))[0]


def test_adversarial_term_is_the_loss_at_epsilon_along_each_rows_gradient(
    data: tuple[Interactions, Interactions, Catalog],
) -> None:
    train, _, catalog = data
    eps, weight = 1e-3, 0.5
    params = {**TINY, "dropout": 0.0}
    model = SASRec(**params, epochs=2, adv_weight=weight, adv_epsilon=eps).fit(train, catalog)
    net = model.module_
    batch = _one_batch(model, train, catalog)
    parts = model._loss(net, batch)
    # the clean next-item loss and its gradient with respect to the item table, computed here
    hidden, table = net(batch["input"])
    real = batch["target"] > 0
    logits = hidden[real] @ table[1 : N_ITEMS + 1].T
    clean = torch.nn.functional.cross_entropy(logits, batch["target"][real] - 1)
    (grad,) = torch.autograd.grad(clean, table)
    torch.testing.assert_close(parts["next"], clean.detach())
    # every item row (not the padding row) moves by eps along its own gradient, so to first order the
    # loss grows by eps * sum_i ||g_i||: the largest growth any per-row step of size eps can give
    gain = eps * grad[1:].norm(dim=1).sum()
    assert float(gain) > 0
    np.testing.assert_allclose(float(parts["adv"] - parts["next"]), float(gain), rtol=0.02)
    torch.testing.assert_close(parts["loss"].detach(), parts["next"] + weight * parts["adv"])


def test_contrastive_term_is_nt_xent_of_the_two_views(
    data: tuple[Interactions, Interactions, Catalog],
) -> None:
    train, _, catalog = data
    # crop 1.0, mask 0.0 and reorder 0.0 leave a sequence as it is: both views are the input itself
    identity = {"crop_ratio": 1.0, "mask_ratio": 0.0, "reorder_ratio": 0.0}
    params = {**TINY, "dropout": 0.0}
    for extra in ({"cl_augment": "crop+mask+reorder", **identity}, {"cl_augment": "dropout"}):
        model = SASRec(**params, epochs=1, cl_weight=0.3, cl_temperature=0.5, **extra).fit(train, catalog)
        batch = _one_batch(model, train, catalog)
        parts = model._loss(model.module_, batch)
        last = model.module_(batch["input"])[0][:, -1].detach()  # [B, D]
        # NT-Xent of identical views (the formula is checked by hand in test_augment.py)
        torch.testing.assert_close(parts["cl"], info_nce(last, last, 0.5))
        torch.testing.assert_close(parts["loss"].detach(), parts["next"] + 0.3 * parts["cl"])
    # mask ratio 1 masks every item of both views: the views are the mask token (row N + 1) throughout
    model = SASRec(**params, epochs=1, cl_weight=0.3, cl_augment="mask", mask_ratio=1.0).fit(train, catalog)
    batch = _one_batch(model, train, catalog)
    parts = model._loss(model.module_, batch)
    masked = torch.where(batch["input"] > 0, N_ITEMS + 1, 0)
    views = model.module_(masked)[0][:, -1].detach()
    torch.testing.assert_close(parts["cl"], info_nce(views, views, 1.0))
    plain = model.module_(batch["input"])[0][:, -1].detach()
    assert (
        abs(float(info_nce(plain, plain, 1.0)) - float(parts["cl"])) > 1e-3
    )  # the check can tell them apart


def test_category_head_learns_the_next_items_category(
    data: tuple[Interactions, Interactions, Catalog],
) -> None:
    # on the cycle u, u+1, ... the next item's parity is always the opposite of the last item's
    train, test, catalog = data
    model = SASRec(**TINY, epochs=30, category_attribute="parity", category_weight=1.0).fit(train, catalog)
    seqs = train.sequences()
    seq = torch.from_numpy(pad_sequences([seqs[u] for u in test.user], TINY["max_len"]))
    with torch.no_grad():
        hidden = model.module_(seq)[0][:, -1]  # [B, D]
        assert model.module_.category_head is not None
        predicted = model.module_.category_head(hidden).argmax(1).numpy()
    parity = catalog.attributes["parity"]
    assert float(np.mean(predicted == parity[test.item])) >= 0.95
    assert "category" in model.history_.epochs[-1].parts


@pytest.mark.parametrize("sharing", ["position", "sequence"])
def test_sampled_softmax_learns_the_planted_successor(
    data: tuple[Interactions, Interactions, Catalog], sharing: str
) -> None:
    train, test, catalog = data
    model = SASRec(**TINY, epochs=40, loss="sampled", n_negatives=8, negative_sharing=sharing)
    model.fit(train, catalog)
    scores = model.score(test.user, history=train)
    assert float(np.mean(scores.argmax(1) == test.item)) >= 0.9


def test_sampled_loss_draws_every_positions_own_negatives(
    data: tuple[Interactions, Interactions, Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RecTools' SASRec (the eSASRec benchmark) draws ``n_negatives`` per position; one set shared by the
    batch pushed down ~batch x length times fewer negatives per epoch and plateaued far lower on Beauty."""
    import explorec.models.sasrec as sasrec_module

    train, _, catalog = data
    shapes: list[tuple[int, ...]] = []
    real = sasrec_module.sampled_softmax_loss

    def spy(hidden: torch.Tensor, items: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor) -> Any:
        shapes.append((hidden.shape[0], *negatives.shape))
        return real(hidden, items, target, negatives)

    monkeypatch.setattr(sasrec_module, "sampled_softmax_loss", spy)
    SASRec(**TINY, epochs=1, loss="sampled", n_negatives=8).fit(train, catalog)
    assert shapes and all(s[1:] == (s[0], 8) for s in shapes)
    shapes.clear()
    SASRec(**TINY, epochs=1, loss="sampled", n_negatives=8, negative_sharing="batch").fit(train, catalog)
    assert shapes and all(s[1:] == (8,) for s in shapes)
    seq_shapes: list[tuple[int, ...]] = []
    real_seq = sasrec_module.sequence_sampled_softmax_loss

    def seq_spy(
        hidden: torch.Tensor, items: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor
    ) -> Any:
        seq_shapes.append((hidden.shape[0], *negatives.shape))
        return real_seq(hidden, items, target, negatives)

    monkeypatch.setattr(sasrec_module, "sequence_sampled_softmax_loss", seq_spy)
    shapes.clear()
    SASRec(**TINY, epochs=1, loss="sampled", n_negatives=8, negative_sharing="sequence").fit(train, catalog)
    assert not shapes and seq_shapes and all(s[1:] == (s[0], 8) for s in seq_shapes)  # [B, S]
    with pytest.raises(ConfigError, match="negative_sharing"):
        SASRec(**TINY, negative_sharing="user").fit(train, catalog)


def test_validate_every_spaces_the_validations_and_patience_counts_them(
    data: tuple[Interactions, Interactions, Catalog],
) -> None:
    train, test, catalog = data
    model = SASRec(**TINY, epochs=9, validate_every=3, patience=1, loss="sampled", n_negatives=8)
    model.fit(train, catalog, valid=test)
    validated = [e.epoch for e in model.history_.epochs if e.metric is not None]
    assert validated == [3, 6, 9][: len(validated)] and validated
    assert model.get_params()["validate_every"] == 3
    with pytest.raises(ConfigError, match="validate_every"):
        SASRec(**TINY, validate_every=0).fit(train, catalog)


def test_text_items_need_the_catalog(data: tuple[Interactions, Interactions, Catalog]) -> None:
    train, _, catalog = data
    text = SASRec(**TINY, epochs=2, item_input="text", encoder="hashing:32").fit(train, catalog)
    assert text.module_config_["text_dim"] == 32
    with pytest.raises(ConfigError, match="needs the catalog"):
        SASRec(**TINY, epochs=1, item_input="text", encoder="hashing:32").fit(train)


def cold_item_scores(**params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Test users' scores of the known-answer items never seen in training, and which share the group
    of the user's test item (each user: 2 cold items of its own group, 4 of the others)."""
    ds = known_answer_dataset()
    split = ds.split
    assert split is not None
    model = SASRec(**{**TINY, "dropout": 0.0}, epochs=30, **params).fit(split.train, ds.catalog)
    group = ds.catalog.attributes["group"]
    cold = split.cold_items
    scores = model.score(split.test.user, cold, history=split.test_history)
    return scores, group[cold][None, :] == group[split.test.item][:, None]


def test_text_items_score_cold_items_by_their_text() -> None:
    scores, own = cold_item_scores(item_input="text", encoder="hashing:64")
    assert scores[own].mean() > scores[~own].mean()


def test_attribute_bags_from_a_field_or_an_attribute() -> None:
    catalog = Catalog(
        np.array(["a", "b", "c", "d"], dtype=object),
        fields={"tags": np.array(["7 3", "", "3 3 9", "9"], dtype=object)},
        attributes={
            "brand": np.array(["x", None, "y", "x"], dtype=object),
            "none": np.full(4, "", dtype=object),
        },
    )
    flat, offsets, n = item_attribute_bags(catalog, "tags", None, "T")
    assert n == 3  # tokens "3" < "7" < "9"
    assert flat.tolist() == [1, 0, 0, 0, 2, 2] and offsets.tolist() == [0, 2, 2, 5]
    flat, offsets, n = item_attribute_bags(catalog, "brand", None, "T")
    assert (flat.tolist(), offsets.tolist(), n) == ([0, 1, 0], [0, 1, 1, 2], 2)
    with pytest.raises(ConfigError, match="'none' has no attribute tokens"):
        item_attribute_bags(catalog, "none", None, "T")
    with pytest.raises(ConfigError, match="needs the catalog"):
        item_attribute_bags(None, "tags", None, "T")


def test_attribute_items_are_the_id_plus_the_mean_of_their_token_embeddings(
    data: tuple[Interactions, Interactions, Catalog], tmp_path: Path
) -> None:
    """``id+attributes``: row i is id_emb[i] + mean(attr_emb[tokens of i]), padding and mask rows id only;
    it learns the planted successor and survives save/load."""
    train, test, catalog = data
    tags = np.array([f"p{i % 2} t{i % 5}" if i % 7 else "" for i in range(N_ITEMS)], dtype=object)
    catalog = Catalog(catalog.item_ids, {**catalog.fields, "tags": tags}, catalog.attributes)
    model = SASRec(**TINY, epochs=40, item_input="id+attributes", attribute_field="tags").fit(train, catalog)
    assert model.module_config_["n_attributes"] == 7  # p0 p1 t0..t4
    table = model.module_.items
    with torch.no_grad():
        rows = table()  # [N+2, D]
        attr = table.attr_emb.weight
        item = 3  # tokens p1, t3 -> ids 1 and 5
        expected = table.id_emb.weight[item + 1] + (attr[1] + attr[5]) / 2
        np.testing.assert_allclose(rows[item + 1], expected, atol=1e-6)
        np.testing.assert_allclose(rows[0 + 1], table.id_emb.weight[1], atol=0)  # item 0 has no tokens
        np.testing.assert_allclose(rows[N_ITEMS + 1], table.id_emb.weight[N_ITEMS + 1], atol=0)  # the mask
    assert float(np.mean(model.score(test.user, history=train).argmax(1) == test.item)) >= 0.9
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, SASRec) and loaded.attribute_field == "tags"
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))


def test_attributes_alone_keep_a_learned_mask_token_and_a_zero_padding_row() -> None:
    cfg = SASRecConfig(n_items=3, dim=4, item_input="attributes", n_attributes=2, n_attribute_links=1)
    net = SASRecNet(cfg)
    with torch.no_grad():
        net.items.attr_offsets.copy_(torch.tensor([0, 1, 1]))  # item 0 has token 0, items 1 and 2 none
        net.items.mask_vec.fill_(1.0)
        table = net.items()  # [5, 4]
    assert torch.equal(table[0], torch.zeros(4)) and torch.equal(table[4], torch.ones(4))
    assert torch.equal(table[1], net.items.attr_emb.weight[0]) and not table[2:4].any()


def test_attribute_items_score_cold_items_by_their_attribute() -> None:
    """Items never seen in training are ranked by the next item's group, through their group token."""
    scores, own = cold_item_scores(item_input="attributes", attribute_field="group")
    assert (scores[own].reshape(len(scores), -1).min(1) > scores[~own].reshape(len(scores), -1).max(1)).all()


def test_mc_dropout_uncertainty(fitted: SASRec) -> None:
    mean, std = fitted.score_uncertainty([0, 1, 2], n_samples=8, seed=1)
    again = fitted.score_uncertainty([0, 1, 2], n_samples=8, seed=1)
    assert mean.shape == std.shape == (3, N_ITEMS) and mean.dtype == np.float32
    assert (std > 0).all()
    np.testing.assert_array_equal(std, again[1])
    np.testing.assert_allclose(mean, fitted.score([0, 1, 2]), atol=float(std.max()) * 3)
    assert not fitted.module_.training


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"item_input": "image"}, r"item_input must be one of \('id', 'text', 'id\+text', .*\), got 'image'"),
        ({"item_input": "id+attributes", "attribute_sep": ""}, "attribute_sep must be None"),
        (
            {"item_input": "id+attributes", "attribute_field": "colour"},
            r"neither a catalogue field \(\['text'\]\)",
        ),
        ({"loss": "bpr"}, "loss must be one of"),
        ({"block": "post-norm"}, r"block must be one of \('pre-norm', 'sasrec'\), got 'post-norm'"),
        ({"batching": "sorted"}, r"batching must be one of \('length', 'random'\), got 'sorted'"),
        ({"pad_attention": "none"}, r"pad_attention must be one of \('masked', 'sink'\), got 'none'"),
        ({"init": "kaiming"}, r"init must be one of \('normal', 'xavier'\), got 'kaiming'"),
        ({"ffn_mult": 0}, "ffn_mult"),
        ({"dim": 10, "n_heads": 3}, r"dim \(10\) must be a multiple of n_heads \(3\)"),
        ({"cl_weight": 0.1, "cl_augment": "crop+shuffle"}, "cl_augment"),
        ({"category_weight": 0.5}, "needs category_attribute"),
        ({"category_weight": 0.5, "category_attribute": "colour"}, "known: \\['parity'\\]"),
    ],
)
def test_bad_parameters_raise_config_errors(
    params: dict[str, Any], match: str, data: tuple[Interactions, Interactions, Catalog]
) -> None:
    train, _, catalog = data
    with pytest.raises(ConfigError, match=match):
        SASRec(**{**TINY, **params}, epochs=1).fit(train, catalog)
