from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from explorec.data.interactions import Catalog
from explorec.encoders import DEFAULT_TEMPLATES, Template, item_texts, resolve_template
from explorec.errors import ConfigError, DataError


def _catalog(**fields: list[object]) -> Catalog:
    n = len(next(iter(fields.values())))
    return Catalog(
        np.array([f"i{k}" for k in range(n)], dtype=object),
        fields={name: np.array(values, dtype=object) for name, values in fields.items()},
    )


def test_movielens_default_template() -> None:
    cat = _catalog(
        title=["Heat (1995)", "Up (2009)"],
        genres=["Action, Crime", "Animation"],
        tags=["Pacino, heist", ""],
    )
    assert item_texts(cat, "movielens-latest-small") == [
        "Heat (1995). Genres: Action, Crime. Tags: Pacino, heist.",
        "Up (2009). Genres: Animation.",  # the empty tags part is left out, not "Tags: ."
    ]


def test_list_spec_splits_pipes_and_sequences() -> None:
    cat = _catalog(genres=["Drama|Comedy", ["Sci-Fi", "", "War"]])
    assert Template.parse("Genres: {genres:list}.").render(cat) == [
        "Genres: Drama, Comedy.",
        "Genres: Sci-Fi, War.",
    ]


def test_synthetic_template_and_attributes() -> None:
    cat = Catalog(
        np.array(["a"], dtype=object),
        fields={
            "title": np.array(["Trail shoe"], dtype=object),
            "categories": np.array(["Sports > Running"], dtype=object),
            "brand": np.array(["Acme"], dtype=object),
            "description": np.array(["Light and grippy."], dtype=object),
        },
        attributes={"year": np.array([2020])},
    )
    assert item_texts(cat, "synthetic") == ["Trail shoe. Sports > Running. Acme. Light and grippy."]
    assert item_texts(cat, "{title} ({year})") == ["Trail shoe (2020)"]


def test_auto_template_prefers_text_then_known_fields() -> None:
    assert str(resolve_template(None, _catalog(text=["x"], title=["y"]))) == "{text}"
    cat = _catalog(description=["d"], title=["t"], colour=["red"])
    assert item_texts(cat) == ["t. d. colour: red."]


def test_empty_text_falls_back_with_a_counted_warning(caplog: pytest.LogCaptureFixture) -> None:
    cat = _catalog(title=["Heat", "", None, float("nan")])
    with caplog.at_level(logging.WARNING, logger="explorec.encoders.templates"):
        texts = item_texts(cat, "{title}")
    assert texts == ["Heat", "item i1", "item i2", "item i3"]
    assert "3 of 4 items have no text" in caplog.text


def test_non_utf8_bytes_name_the_item_and_field() -> None:
    cat = _catalog(title=[b"caf\xe9"])
    with pytest.raises(DataError, match=r"item 'i0', field 'title'.*not valid UTF-8"):
        item_texts(cat, "{title}")


def test_lone_surrogates_from_a_lossy_decode_are_rejected() -> None:
    text = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(DataError, match=r"item 'i0', field 'title'.*not valid UTF-8"):
        item_texts(_catalog(title=[text]), "{title}")


def test_valid_utf8_bytes_are_decoded() -> None:
    assert item_texts(_catalog(title=["café".encode()]), "{title}") == ["café"]


def test_unknown_field_and_bad_template_are_config_errors() -> None:
    cat = _catalog(title=["x"])
    with pytest.raises(
        ConfigError, match=r"'brand' is not in the catalogue; available: \['item_id', 'title'\]"
    ):
        item_texts(cat, "{brand}")
    with pytest.raises(ConfigError, match="neither a dataset name"):
        item_texts(cat, "no-such-dataset")


def test_every_registered_dataset_has_a_template() -> None:
    for name in (
        "synthetic",
        "movielens-100k",
        "movielens-latest-small",
        "amazon-scientific",
        "lastfm-hetrec-2k",
    ):
        assert name in DEFAULT_TEMPLATES


@pytest.mark.parametrize("name", ["synthetic", "amazon-scientific", "movielens-latest-small"])
def test_default_template_fits_the_real_catalogue(name: str, datasets_dir: Path) -> None:
    from explorec.data.registry import load_dataset

    data = load_dataset(name, data_dir=datasets_dir)
    texts = item_texts(data.catalog, name)
    assert len(texts) == data.catalog.n_items
    assert sum(t.startswith("item ") for t in texts) < 0.01 * len(texts)  # the fallback is rare


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("{title:zz}", "format 'zz' of field {title}; allowed: 'list'"),
        ("{title", "part '{title' is not a format string"),
        ("Title} {title}", "is not a format string"),
        ("{} and {title}", "field '' in part"),
        ("{title!x}", "conversion !x"),
    ],
)
def test_bad_template_strings_are_refused_when_parsed(spec: str, match: str) -> None:
    # regression: these failed only while rendering, with a bare ValueError traceback
    with pytest.raises(ConfigError, match=match):
        Template.parse(spec)


def test_format_specs_for_text_and_numbers_are_accepted() -> None:
    assert Template.parse("{title:>3}||{year:.0f}").parts == ("{title:>3}", "{year:.0f}")
