"""Saved folders are data, never code; corrupt files give one-line errors naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from explorec.data.toy import known_answer_dataset, known_answer_split
from explorec.errors import ConfigError, DataError, NotFittedError
from explorec.models.base import Recommender
from explorec.models.ease import EASE
from explorec.models.fusion import WeightedFusion
from explorec.models.popularity import Popularity
from explorec.models.registry import make_model
from explorec.models.saved import load_saved
from explorec.persist import (
    CURRENT,
    MANIFEST,
    build,
    check_sentence_model_folder,
    resolve_version,
    verify_manifest,
    write_manifest,
)
from explorec.pipeline import recommend


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return known_answer_split()


@pytest.fixture
def saved(split, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    model = EASE(l2=10.0).fit(split.train)
    return model.save(tmp_path / "ease")


def _payload_folder(tmp_path: Path, config: dict[str, object], *, seal: bool) -> Path:
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    np.savez(folder / "state.npz")
    if seal:
        write_manifest(folder)  # a well-formed, consistent folder: only the registry can refuse it
    return folder


@pytest.mark.parametrize("seal", [True, False])
def test_os_system_payload_is_refused_and_never_runs(tmp_path: Path, seal: bool) -> None:
    marker = tmp_path / "pwned"
    payload = {"class": "os.system", "params": {"command": f"touch {marker}"}}
    folder = _payload_folder(tmp_path, payload, seal=seal)
    match = r"evil/config.json: 'class' = 'os.system' is not accepted" if seal else r"evil/CURRENT: missing"
    with pytest.raises(DataError, match=match) as info:
        if seal:
            Recommender.read_files(folder)  # past the manifest check, straight to the config
        else:
            Recommender.load(folder)
    assert not marker.exists()
    assert "\n" not in str(info.value)


def test_sealed_payload_is_refused_through_load(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = {"class": "os.system", "params": {"command": f"touch {marker}"}, "format_version": 2}
    folder = _payload_folder(tmp_path, payload, seal=True)
    with pytest.raises(DataError, match=r"evil/config.json: 'class' = 'os.system' is not accepted"):
        Recommender.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "os.system", "params": {"command": "true"}}, r"'name' = 'os.system' is not a registered"),
        ({"name": "ease", "params": {"l2": 1.0, "command": "true"}}, r"unknown parameter\(s\) \['command'\]"),
        ({"name": "ease", "params": "l2=1"}, r"'params' must be a JSON object"),
        ({"params": {}}, r"'name' = None is not a registered model"),
    ],
)
def test_unregistered_names_and_unknown_parameters_are_refused(
    tmp_path: Path, config: dict[str, object], match: str
) -> None:
    folder = _payload_folder(tmp_path, {"format_version": 2, **config}, seal=True)
    with pytest.raises(DataError, match=match):
        Recommender.load(folder)


def test_policies_load_through_the_same_registry_rule(tmp_path: Path) -> None:
    where = tmp_path / "policy.json"
    policy = build("policy", {"name": "eps-greedy", "params": {"epsilon": 0.2, "seed": 3}}, where)
    assert policy.get_params()["epsilon"] == 0.2
    with pytest.raises(DataError, match=r"policy.json: 'class' = 'os.system' is not accepted"):
        build("policy", {"class": "os.system", "params": {"command": "true"}}, where)
    with pytest.raises(DataError, match=r"policy 'eps-greedy': unknown parameter\(s\) \['alpha'\]"):
        build("policy", {"name": "eps-greedy", "params": {"alpha": 1}}, where)


def test_sentence_model_folder_naming_foreign_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(json.dumps([{"idx": 0, "path": "", "type": "os.system"}]))
    with pytest.raises(DataError, match=r"modules.json: module 0 has type 'os.system'"):
        check_sentence_model_folder(tmp_path)


def test_make_model_names_a_parameter_typo() -> None:
    with pytest.raises(ConfigError, match=r"model 'ease': unknown parameter\(s\) \['lamda'\]; allowed: "):
        make_model("ease", lamda=3)


def test_round_trip_keeps_scores_and_layout(split, saved: Path) -> None:  # type: ignore[no-untyped-def]
    root = saved.parent
    assert (root / CURRENT).read_text().strip() == saved.name
    assert resolve_version(root) == saved
    manifest = verify_manifest(saved)
    assert set(manifest["files"]) == {"config.json", "state.npz", "train.npz"}
    config = json.loads((saved / "config.json").read_text())
    assert "class" not in config and config["name"] == "ease"
    loaded = Recommender.load(root)
    original = EASE(l2=10.0).fit(split.train)
    np.testing.assert_array_equal(loaded.score([0, 1, 2]), original.score([0, 1, 2]))


def test_fusion_components_are_covered_by_the_outer_manifest(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = WeightedFusion(components=["popularity", ["ease", {"l2": 5.0}]]).fit(split.train)
    version = model.save(tmp_path / "fused")
    listed = set(verify_manifest(version)["files"])
    assert {"component_0/config.json", "component_1/state.npz"} <= listed
    assert not (version / "component_0" / MANIFEST).exists()
    (version / "component_1" / "config.json").write_text(
        json.dumps({"format_version": 2, "class": "os.system", "params": {"command": "true"}})
    )
    write_manifest(version)
    with pytest.raises(DataError, match=r"component_1/config.json: 'class' = 'os.system'"):
        Recommender.load(version)


def test_saved_bundle_carries_what_recommend_needs(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dataset = known_answer_dataset()
    vectors = np.eye(split.train.n_items, 4, dtype=np.float32)
    model = Popularity().fit(split.train, dataset.catalog)
    model.save(
        tmp_path / "m",
        metadata={"dataset": "toy", "split": "leave-one-out"},
        catalog=dataset.catalog,
        seen=dataset.interactions,
        item_vectors=vectors,
    )
    saved = load_saved(tmp_path / "m")
    assert saved.metadata == {"dataset": "toy", "split": "leave-one-out"}
    assert saved.catalog is not None and saved.catalog.n_items == split.train.n_items
    for name, values in dataset.catalog.fields.items():
        np.testing.assert_array_equal(saved.catalog.fields[name].astype(str), values.astype(str))
    assert saved.seen is not None and len(saved.seen) == len(dataset.interactions)
    np.testing.assert_array_equal(saved.item_vectors, vectors)


# ---------------------------------------------------------------------- corruption
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x80\x04garbage that is neither zip nor json" * 3)


@pytest.mark.parametrize("damage", [_truncate, _garble])
@pytest.mark.parametrize("name", ["config.json", "state.npz", "train.npz"])
def test_corrupt_files_name_the_file(saved: Path, name: str, damage) -> None:  # type: ignore[no-untyped-def]
    damage(saved / name)
    with pytest.raises(DataError, match=rf"{name}: content differs from its manifest.json") as info:
        Recommender.load(saved.parent)
    assert "\n" not in str(info.value)
    # the same damage under a manifest re-sealed over it reaches the parser, which names the file too
    write_manifest(saved)
    with pytest.raises(DataError, match=rf"{name}: (not valid JSON|not UTF-8|not a readable .npz)") as info:
        Recommender.load(saved.parent)
    assert "pickled data" not in str(info.value) and "\n" not in str(info.value)


def test_missing_or_extra_files_and_pointer_faults(saved: Path) -> None:
    (saved / "stray.txt").write_text("x")
    with pytest.raises(DataError, match=r"stray.txt: not part of the saved version"):
        Recommender.load(saved)
    (saved / "stray.txt").unlink()
    (saved / "state.npz").unlink()
    with pytest.raises(DataError, match=r"state.npz: listed in its manifest.json but missing"):
        Recommender.load(saved)
    (saved.parent / CURRENT).write_text("../../etc\n")
    with pytest.raises(DataError, match=r"CURRENT: '../../etc' is not a version name"):
        Recommender.load(saved.parent)
    (saved.parent / CURRENT).unlink()
    with pytest.raises(DataError, match=r"CURRENT: missing"):
        Recommender.load(saved.parent)
    (saved.parent / CURRENT).mkdir()  # a directory where the pointer file should be: Errno 21/22 territory
    with pytest.raises(DataError, match=r"CURRENT"):
        Recommender.load(saved.parent)


def test_save_refuses_a_folder_that_holds_other_files(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"is not a folder of saved versions \(it holds \['notes.txt'\]\)"):
        Popularity().fit(split.train).save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_second_save_replaces_and_keeps_one_previous_version(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    versions = [EASE(l2=float(l2)).fit(split.train).save(tmp_path / "m") for l2 in (1, 2, 3)]
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.get_params()["l2"] == 3.0
    assert not versions[0].exists() and versions[1].exists() and versions[2].exists()
    shutil.rmtree(versions[1])
    assert Recommender.load(tmp_path / "m").get_params()["l2"] == 3.0


def test_recommend_and_score_before_fit_raise_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="EASE is not fitted"):
        recommend(EASE(), [0], k=3)
    with pytest.raises(NotFittedError, match="EASE is not fitted"):
        EASE().score([0])


@pytest.mark.parametrize("name", ["module.pt", "module.json"])
def test_corrupt_torch_files_name_the_file(split, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    from explorec.models.sasrec import SASRec

    model = SASRec(**SASRec.contract_params()).fit(split.train)
    version = model.save(tmp_path / "sasrec")
    _truncate(version / name)
    write_manifest(version)
    with pytest.raises(DataError, match=rf"{name}: not (readable torch weights|valid JSON)") as info:
        Recommender.load(version)
    assert "\n" not in str(info.value)


def test_a_failing_writer_leaves_the_current_version_and_no_debris(split, saved: Path) -> None:  # type: ignore[no-untyped-def]
    from explorec.data.interactions import Catalog

    with pytest.raises(DataError, match="catalog has 2 items"):
        EASE(l2=99.0).fit(split.train).save(saved.parent, catalog=Catalog.empty(["a", "b"]))
    assert Recommender.load(saved.parent).get_params()["l2"] == 10.0
    assert sorted(p.name for p in saved.parent.iterdir()) == [".lock", CURRENT, saved.name]


def test_every_registered_policy_round_trips_through_build(tmp_path: Path) -> None:
    from explorec.policies import POLICIES, make_policy

    for name in sorted(POLICIES):
        extra = {"shared_dim": 3} if name == "linucb-hybrid" else {}
        policy = make_policy(name, seed=7, **extra)
        config = json.loads(json.dumps({"name": name, "params": policy.get_params()}, default=list))
        rebuilt = build("policy", config, tmp_path / "policy.json")
        assert type(rebuilt) is type(policy) and rebuilt.get_params() == json.loads(
            json.dumps(policy.get_params(), default=list)
        ), name


def test_roll_back_to_a_kept_version(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from explorec.persist import list_versions, set_current

    first, second, third = (
        EASE(l2=float(l2)).fit(split.train).save(tmp_path / "m", keep=3) for l2 in (1, 2, 3)
    )
    assert list_versions(tmp_path / "m") == [first, second, third]
    set_current(tmp_path / "m", first.name)
    assert Recommender.load(tmp_path / "m").get_params()["l2"] == 1.0
    (first / "state.npz").write_bytes(b"tampered")
    with pytest.raises(DataError, match=r"state.npz: content differs"):
        set_current(tmp_path / "m", first.name)
    with pytest.raises(ConfigError, match="no such complete version"):
        set_current(tmp_path / "m", "v-20000101T000000000000-000000000000")


def _legacy_folder(model: Recommender, folder: Path, klass: str) -> Path:
    """The layout of format 1: the model's files straight in the folder, 'class' beside 'name'."""
    model.write_files(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update({"format_version": 1, "class": klass})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_models_saved_before_versions_still_load_from_the_registry_only(
    split,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = EASE(l2=10.0).fit(split.train)
    old = _legacy_folder(model, tmp_path / "old", "explorec.models.ease.EASE")
    with caplog.at_level("WARNING"):
        loaded = Recommender.load(old)
    assert "saved before format 2" in caplog.text
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))
    marker = tmp_path / "pwned"
    for klass in ("os.system", "explorec.models.itemknn.ItemKNN"):
        bad = _legacy_folder(model, tmp_path / klass, klass)
        with pytest.raises(DataError, match=rf"'class' = '{klass}' is not the registered class of 'ease'"):
            Recommender.load(bad)
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "config.json").write_text(
        json.dumps({"format_version": 1, "class": "os.system", "params": {"command": f"touch {marker}"}})
    )
    with pytest.raises(DataError, match=r"'name' = None is not a registered model"):
        Recommender.load(payload)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["state.npz", "train.npz"])
def test_any_truncation_or_flipped_byte_is_a_data_error_naming_the_file(saved: Path, name: str) -> None:
    """Past the manifest (re-sealed), every damage the parser sees is one DataError naming the file
    (BadZipFile, CRC, zlib, EOFError, Errno 22, NotImplementedError... were tracebacks)."""
    path = saved / name
    data = path.read_bytes()
    rng = np.random.default_rng(11)
    damaged = [data[:n] for n in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(120):
        flipped = bytearray(data)
        flipped[int(rng.integers(len(flipped)))] ^= 0xFF
        damaged.append(bytes(flipped))
    refused = 0
    for blob in damaged:
        path.write_bytes(blob)
        try:
            Recommender.read_files(saved)
        except DataError as exc:
            assert name in str(exc) and "\n" not in str(exc)
            refused += 1
    assert refused >= len(damaged) // 2
