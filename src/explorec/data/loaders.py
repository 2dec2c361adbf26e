"""Loaders of native dataset formats; each returns a :class:`~explorec.data.interactions.Dataset`.

The readers live in :mod:`explorec.data.formats` (one module per family); this module is the one
place to import them from. Every loader

* keeps external ids verbatim as strings and indexes users/items densely (catalogue order first, so
  items nobody interacted with stay in the catalogue as cold items);
* keeps rows in file order; ``timestamp`` is unix seconds where the source has a clock, else the
  event's position in the user's sequence (``has_timestamps`` False);
* raises :class:`~explorec.errors.DataError` naming the file, the 1-based line and the field for a
  malformed line, and the columns found for a missing column; never drops rows silently.

==========================  ===========================================  =============================
loader                      files                                        notes
==========================  ===========================================  =============================
``load_movielens_100k``     u.data, u.item, u.genre, u.user              ratings, user features
``load_movielens_csv``      ratings.csv, movies.csv, [tags.csv]          latest(-small), 20M, 25M, 32M
``load_movielens_dat``      ratings.dat, movies.dat, [users, tags].dat   1M, 10M (``::``-separated)
``load_unisrec``            <p>.{train,valid,test}.inter, .text, ...     shipped leave-one-out split
``load_atomic``             <p>.inter, [<p>.item]                        any RecBole atomic dataset
``load_s3rec``              <p>.txt, <p>_item2attributes.json            shipped leave-one-out split
``load_lastfm_hetrec``      user_artists.dat, artists.dat                play counts, no clock
``load_lastfm_recbole``     lastfm.inter, lastfm.item                    timestamp column = play count
``load_table``              any CSV/TSV/Parquet + optional item table    column mapping
==========================  ===========================================  =============================

Registered datasets are loaded by name through :func:`explorec.data.registry.load_dataset`; any
other table by its column names::

    from explorec.data.loaders import load_table
    dataset = load_table("events.csv", user_col="uid", item_col="sku", time_col="ts")
"""

from __future__ import annotations

from explorec.data.formats.common import Col, read_delimited
from explorec.data.formats.lastfm import load_lastfm_hetrec, load_lastfm_recbole
from explorec.data.formats.movielens import (
    load_movielens_100k,
    load_movielens_csv,
    load_movielens_dat,
    title_year,
)
from explorec.data.formats.recbole import AtomicTable, load_atomic, load_unisrec, read_atomic
from explorec.data.formats.s3rec import attribute_lists, load_s3rec, read_item_attributes, read_sequences
from explorec.data.formats.table import load_table

__all__ = [
    "AtomicTable",
    "Col",
    "attribute_lists",
    "load_atomic",
    "load_lastfm_hetrec",
    "load_lastfm_recbole",
    "load_movielens_100k",
    "load_movielens_csv",
    "load_movielens_dat",
    "load_s3rec",
    "load_table",
    "load_unisrec",
    "read_atomic",
    "read_delimited",
    "read_item_attributes",
    "read_sequences",
    "title_year",
]
