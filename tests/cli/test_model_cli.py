"""train / recommend / evaluate --model-dir / model info: saved models that serve without the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorec.cli import main
from explorec.data.registry import load_dataset
from explorec.data.splits import make_split
from explorec.models.popularity import Popularity
from explorec.models.saved import load_saved
from explorec.persist import resolve_version, write_manifest
from explorec.policies import POLICIES

SMALL = ["--dataset", "synthetic"]


@pytest.fixture(scope="module")
def itemknn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "itemknn"
    assert main(["train", *SMALL, "--model", "itemknn", "--param", "k=50", "--out", str(out)]) == 0
    return out


def _slates(path: Path) -> list[dict[str, object]]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_train_records_its_run_inside_the_version(itemknn_dir: Path) -> None:
    version = resolve_version(itemknn_dir)
    run = json.loads((version / "run.json").read_text())
    assert run["params"]["k"] == 50 and "ndcg@10" in run["valid_metrics"]
    assert (run["dataset"], run["split"], run["seed"]) == ("synthetic", "auto", 0)
    assert not (itemknn_dir / "run.json").exists()  # nothing describing the model lives outside it


def test_recommend_needs_no_dataset(
    itemknn_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import explorec.data.registry as registry

    def no_dataset(*args: object, **kwargs: object) -> None:
        raise AssertionError("recommend must not load the dataset")

    monkeypatch.setattr(registry, "load_dataset", no_dataset)
    out = tmp_path / "slates.json"
    args = ["recommend", "--model-dir", str(itemknn_dir), "--users", "U00000,U00001", "--k", "5"]
    assert main([*args, "--policy", "eps-greedy:0.2", "--json", str(out)]) == 0
    slates = _slates(out)
    assert [s["user_id"] for s in slates] == ["U00000", "U00001"]
    assert all(len(s["items"]) == 5 and s["policy"] == "eps-greedy" for s in slates)  # type: ignore[arg-type]
    titles = [row["title"] for s in slates for row in s["items"]]  # type: ignore[attr-defined]
    assert all(titles), "titles come from the saved catalogue"


def test_new_user_from_items_matches_a_known_user_with_that_history(
    itemknn_dir: Path, tmp_path: Path
) -> None:
    saved = load_saved(itemknn_dir)
    train = saved.model.train_
    user = 1
    items = [str(train.item_ids[i]) for i in train.item[train.user == user]]
    known, new = tmp_path / "known.json", tmp_path / "new.json"
    base = ["recommend", "--model-dir", str(itemknn_dir), "--k", "10", "--exclude-seen", "train"]
    assert main([*base, "--users", str(train.user_ids[user]), "--json", str(known)]) == 0
    assert main([*base, "--items", ",".join(items), "--json", str(new)]) == 0
    known_items = [r["item_id"] for r in _slates(known)[0]["items"]]  # type: ignore[index]
    new_items = [r["item_id"] for r in _slates(new)[0]["items"]]  # type: ignore[index]
    assert new_items == known_items
    assert not set(new_items) & set(items)


def test_all_users_to_csv_and_users_file_to_parquet(itemknn_dir: Path, tmp_path: Path) -> None:
    csv = tmp_path / "all.csv"
    assert (
        main(
            ["recommend", "--model-dir", str(itemknn_dir), "--users", "all", "--k", "3", "--output", str(csv)]
        )
        == 0
    )
    frame = pd.read_csv(csv)
    assert frame["user_id"].nunique() == 1000 and len(frame) == 3000
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score", "propensity", "title", "policy"]
    users = tmp_path / "users.txt"
    users.write_text("user_id\nU00003\n# a comment\n\nU00007\n")
    parquet = tmp_path / "some.parquet"
    cmd = ["recommend", "--model-dir", str(itemknn_dir), "--users-file", str(users), "--k", "4"]
    assert main([*cmd, "--output", str(parquet)]) == 0
    some = pd.read_parquet(parquet)
    assert list(some["user_id"].unique()) == ["U00003", "U00007"] and len(some) == 8
    expected = frame[frame["user_id"] == "U00003"].head(3)["item_id"].tolist()
    assert some[some["user_id"] == "U00003"].head(3)["item_id"].tolist() == expected


def test_recommend_masks_everything_the_user_consumed(datasets_dir: Path, tmp_path: Path) -> None:
    """Regression: with --min-rating 4 the low-rated and held-out movies came back (23 % of slots)."""
    data = ["--dataset", "movielens-latest-small", "--data-dir", str(datasets_dir)]
    out = tmp_path / "pop"
    assert main(["train", *data, "--min-rating", "4", "--split", "leave-one-out", "--model", "popularity",
                 "--out", str(out), "--no-eval"]) == 0  # fmt: skip
    rated = load_dataset("movielens-latest-small", data_dir=datasets_dir).interactions
    consumed = set(zip(rated.user_ids[rated.user], rated.item_ids[rated.item], strict=True))
    counts = {}
    for mode in ("all", "train"):
        csv = tmp_path / f"{mode}.csv"
        cmd = ["recommend", "--model-dir", str(out), "--users", "all", "--k", "10", "--exclude-seen", mode]
        assert main([*cmd, "--output", str(csv)]) == 0
        frame = pd.read_csv(csv, dtype={"user_id": str, "item_id": str})
        assert len(frame) == 6100
        pairs = zip(frame["user_id"], frame["item_id"], strict=True)
        counts[mode] = sum(pair in consumed for pair in pairs)
    assert counts["all"] == 0
    assert counts["train"] > 500  # what masking only the training part lets through


def test_split_none_trains_on_everything_and_evaluate_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    assert main(["train", *SMALL, "--split", "none", "--model", "popularity", "--out", str(out)]) == 0
    saved = load_saved(out)
    assert len(saved.model.train_) == len(load_dataset("synthetic").interactions)
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out)]) == 2
    assert "trained on all data (--split none" in capsys.readouterr().err


def test_evaluate_model_dir_uses_the_recorded_split_or_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "loo"
    assert (
        main(
            [
                "train",
                *SMALL,
                "--split",
                "leave-one-out",
                "--model",
                "popularity",
                "--out",
                str(out),
                "--no-eval",
            ]
        )
        == 0
    )
    recorded, fresh = tmp_path / "recorded.json", tmp_path / "fresh.json"
    assert main(["evaluate", "--model-dir", str(out), "--k", "10", "--json", str(recorded)]) == 0
    assert main(["evaluate", *SMALL, "--split", "leave-one-out", "--models", "popularity", "--k", "10",
                 "--json", str(fresh)]) == 0  # fmt: skip
    got = json.loads(recorded.read_text())
    want = json.loads(fresh.read_text())
    assert got["split"] == "leave-one-out"
    ndcg = next(iter(got["results"].values()))["metrics"]["ndcg@10"]
    assert ndcg == pytest.approx(want["results"]["popularity"]["metrics"]["ndcg@10"])
    capsys.readouterr()
    auto = tmp_path / "auto"
    assert main(["train", *SMALL, "--model", "popularity", "--out", str(auto), "--no-eval"]) == 0
    assert main(["evaluate", "--model-dir", str(auto), "--split", "leave-one-out", "--k", "10"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model-dir", str(out), "--split", "random"]) == 2
    err = capsys.readouterr().err
    assert "--split 'random' differs from the 'leave-one-out' the model was trained with" in err
    assert err.count("\n") == 1


def test_evaluate_checks_the_training_data_when_nothing_was_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = load_dataset("synthetic")
    split = make_split(dataset, "leave-one-out")
    Popularity().fit(split.train).save(tmp_path / "py")  # saved from Python: no run.json
    assert main(["evaluate", *SMALL, "--split", "random", "--model-dir", str(tmp_path / "py")]) == 2
    assert "trained on other data" in capsys.readouterr().err
    assert main(["evaluate", *SMALL, "--split", "leave-one-out", "--model-dir", str(tmp_path / "py")]) == 0


def test_model_info(itemknn_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["model", "info", str(itemknn_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "itemknn" and info["params"]["k"] == 50
    assert (info["n_users"], info["n_items"], info["dataset"], info["split"]) == (
        1000,
        1500,
        "synthetic",
        "auto",
    )
    assert info["titles"] and info["seen_interactions"] > 0
    assert {"config.json", "state.npz", "train.npz", "run.json", "catalog.npz", "seen.npz"} <= set(
        info["files"]
    )
    assert main(["model", "info", str(itemknn_dir)]) == 0
    assert "files match the manifest" in capsys.readouterr().out


def _copy_model(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return resolve_version(target)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("config.json", b'{"format_version": 2, "name": "itemk', "config.json: not valid JSON"),
        ("state.npz", b"PK\x03\x04truncated", "state.npz: not a readable .npz archive"),
        ("train.npz", b"", "train.npz: not a readable .npz archive"),
        ("catalog.npz", b"\x93NUMPY garbage", "catalog.npz: not a readable .npz archive"),
    ],
)
def test_corrupt_model_files_are_one_line_errors(
    itemknn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, match: str
) -> None:
    version = _copy_model(itemknn_dir, tmp_path / "copy")
    (version / name).write_bytes(data)
    capsys.readouterr()
    assert main(["recommend", "--model-dir", str(tmp_path / "copy"), "--users", "U00000"]) == 2
    err = capsys.readouterr().err
    assert f"{name}: content differs from its manifest.json" in err and err.count("\n") == 1
    write_manifest(version)  # consistent but corrupt: the parser names the file
    assert main(["recommend", "--model-dir", str(tmp_path / "copy"), "--users", "U00000"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_os_system_payload_through_the_cli(
    itemknn_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = _copy_model(itemknn_dir, tmp_path / "copy")
    marker = tmp_path / "pwned"
    (version / "config.json").write_text(
        json.dumps({"class": "os.system", "params": {"command": f"touch {marker}"}})
    )
    write_manifest(version)
    for command in (["recommend", "--users", "U00000"], ["evaluate"], ["model", "info"]):
        where = ["--model-dir", str(tmp_path / "copy")] if command[0] != "model" else [str(tmp_path / "copy")]
        assert main([*command, *where]) == 2
        assert "'class' = 'os.system' is not accepted" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--users", "nobody"], "unknown user_id 'nobody'"),
        (["--items", "NO-SUCH-ITEM"], "unknown item_id 'NO-SUCH-ITEM'"),
        (
            ["--users", "U00000", "--output", "x.xlsx"],
            "--output: expected a file ending in .csv, .parquet, .json",
        ),
        (["--users", "U00000", "--policy", "uncertainty:1.0"], "needs the std of each score, which itemknn"),
        (["--users-file", "/no/such/file"], "--users-file: /no/such/file does not exist"),
    ],
)
def test_recommend_bad_input_is_a_clear_error(
    itemknn_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], match: str
) -> None:
    capsys.readouterr()
    assert main(["recommend", "--model-dir", str(itemknn_dir), *args]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_train_refuses_an_out_folder_holding_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["train", *SMALL, "--model", "popularity", "--no-eval", "--out", str(tmp_path)]) == 2
    assert "is not a folder of saved versions" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_recommend_before_fit_is_not_fitted() -> None:
    from explorec.errors import NotFittedError
    from explorec.pipeline import recommend

    with pytest.raises(NotFittedError):
        recommend(Popularity(), np.array([0]), k=2)


def test_rerank_uses_saved_vectors_or_encodes_the_saved_titles(itemknn_dir: Path, tmp_path: Path) -> None:
    with_vectors = tmp_path / "vec"
    cmd = [
        "train",
        *SMALL,
        "--model",
        "itemknn",
        "--param",
        "k=50",
        "--no-eval",
        "--item-vectors",
        "hashing",
        "--out",
    ]
    assert main([*cmd, str(with_vectors)]) == 0
    saved = load_saved(with_vectors)
    assert saved.item_vectors is not None and saved.item_vectors.shape == (1500, 256)
    assert saved.metadata["item_vectors"] == "hashing"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    rec = ["recommend", "--users", "U00000", "--k", "5", "--rerank", "mmr:0.5"]
    assert main([*rec, "--model-dir", str(with_vectors), "--json", str(a)]) == 0
    # no saved vectors: the saved catalogue's titles are encoded with the same (hashing) encoder
    assert main([*rec, "--model-dir", str(itemknn_dir), "--item-vectors", "hashing", "--json", str(b)]) == 0
    assert _slates(a)[0]["items"] == _slates(b)[0]["items"]
    plain = tmp_path / "plain.json"
    assert (
        main(
            [
                "recommend",
                "--users",
                "U00000",
                "--k",
                "5",
                "--model-dir",
                str(itemknn_dir),
                "--json",
                str(plain),
            ]
        )
        == 0
    )
    assert _slates(plain)[0]["items"] != _slates(a)[0]["items"]  # the re-ranker changed the slate


def test_train_out_pointing_at_a_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "model.bin"
    target.write_text("not a folder")
    assert main(["train", *SMALL, "--model", "popularity", "--no-eval", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "model.bin: exists and is not a folder" in err and err.count("\n") == 1


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_recommend_runs_every_registered_policy(itemknn_dir: Path, tmp_path: Path, policy: str) -> None:
    """Regression: linucb, lints, linucb-hybrid failed with internal messages (no feature columns)."""
    out = tmp_path / "slates.json"
    model_dir = itemknn_dir
    if policy == "uncertainty":  # needs a model that states the std of its scores
        model_dir = tmp_path / "sasrec"
        train = [
            "train",
            *SMALL,
            "--model",
            "sasrec",
            "--param",
            "epochs=1",
            "--param",
            "dim=16",
            "--no-eval",
        ]
        assert main([*train, "--out", str(model_dir)]) == 0
    cmd = ["recommend", "--model-dir", str(model_dir), "--users", "U00000,U00001", "--k", "4"]
    assert main([*cmd, "--policy", policy, "--item-vectors", "hashing", "--json", str(out)]) == 0
    slates = _slates(out)
    assert [s["policy"] for s in slates] == [policy, policy]
    for slate in slates:
        rows = slate["items"]
        assert len(rows) == 4 and len({r["item_id"] for r in rows}) == 4  # type: ignore[union-attr]
        assert all(0 < r["propensity"] <= 1 for r in rows)  # type: ignore[union-attr]


def test_files_from_another_model_do_not_belong_together(
    itemknn_dir: Path, tmp_path: Path, datasets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: run.json rewritten apart from the model printed MovieLens ids with Last.fm names."""
    other = tmp_path / "ml"
    data = ["--dataset", "movielens-100k", "--data-dir", str(datasets_dir)]
    assert main(["train", *data, "--model", "popularity", "--no-eval", "--out", str(other)]) == 0
    mine = _copy_model(itemknn_dir, tmp_path / "copy")
    (mine / "catalog.npz").write_bytes((resolve_version(other) / "catalog.npz").read_bytes())
    capsys.readouterr()
    assert main(["recommend", "--model-dir", str(tmp_path / "copy"), "--users", "U00000"]) == 2
    assert "catalog.npz: content differs from its manifest.json" in capsys.readouterr().err
    write_manifest(mine)
    assert main(["recommend", "--model-dir", str(tmp_path / "copy"), "--users", "U00000"]) == 2
    assert "catalog.npz: item ids differ from the model's vocabulary" in capsys.readouterr().err


def test_model_versions_and_use_roll_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m"
    for l2 in (1, 2, 3):
        cmd = ["train", *SMALL, "--model", "ease", "--param", f"l2={l2}", "--keep", "2", "--out", str(out)]
        assert main(cmd) == 0
    capsys.readouterr()
    assert main(["model", "versions", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("* ") and not lines[0].startswith("*")
    assert "ease  synthetic  ndcg@10=" in lines[0]
    older = lines[0].split()[0]
    assert main(["model", "use", str(out), older]) == 0
    assert load_saved(out).model.get_params()["l2"] == 2
    capsys.readouterr()
    assert main(["model", "use", str(out), "v-20000101T000000000000-000000000000"]) == 2
    assert "no such complete version" in capsys.readouterr().err


def test_train_builds_the_served_fusion_and_recommend_loads_it(tmp_path: Path) -> None:
    out = tmp_path / "fusion"
    fuse = "ease:l2=10+textknn:encoder=hashing:64"
    args = ["train", *SMALL, "--model", "fusion", "--fuse", fuse, "--param", "weight_step=0.25"]
    assert main([*args, "--out", str(out), "--no-eval"]) == 0
    saved = load_saved(out)
    weights = saved.model.weights_  # type: ignore[attr-defined]
    assert weights.shape == (2,) and weights.sum() == 1.0 and saved.model.name == "fusion"
    slates = tmp_path / "slates.json"
    assert (
        main(["recommend", "--model-dir", str(out), "--users", "U00000", "--k", "5", "--json", str(slates)])
        == 0
    )
    assert len(_slates(slates)[0]["items"]) == 5  # type: ignore[arg-type]
