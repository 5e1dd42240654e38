"""The codec searchkit's writers use: Whoosh's W3 but for the stored fields, kept in ``STORED_COLUMN``, a
``blockcolumn.BlockColumn`` of pickles (an article's passages repeat its path, title, source and field names, which
one block holds once; Whoosh's own column compresses each passage alone). Still pickles, still read through
``safepickle``'s checked loader.
"""

from __future__ import annotations

from whoosh.codec.whoosh3 import W3Codec, W3PerDocReader, W3PerDocWriter
from whoosh.columns import PickleColumn

from .blockcolumn import STORED_FIELDS, BlockColumn

__all__ = ["BlockCodec", "STORED_COLUMN", "STORED_FIELDS"]

STORED_COLUMN = PickleColumn(BlockColumn())
"""The column searchkit's codec keeps stored fields in."""


class _PerDocWriter(W3PerDocWriter):
    """W3's per-document writer, its stored fields in ``STORED_COLUMN``."""

    def _create_column(self, fieldname, column) -> None:
        super()._create_column(fieldname, STORED_COLUMN if fieldname == STORED_FIELDS else column)


class _PerDocReader(W3PerDocReader):
    """W3's per-document reader, its stored fields read from ``STORED_COLUMN``."""

    def _cached_reader(self, fieldname, column):
        return super()._cached_reader(fieldname, STORED_COLUMN if fieldname == STORED_FIELDS else column)


class BlockCodec(W3Codec):
    """Whoosh's W3 codec but for the stored fields, kept in ``STORED_COLUMN``. A segment keeps (pickled in the
    TOC) the codec that wrote it and is read through it, so Whoosh's own indexes in the same process, written
    and read with ``W3Codec``, are untouched."""

    def per_document_writer(self, storage, segment) -> _PerDocWriter:
        return _PerDocWriter(self, storage, segment)

    def per_document_reader(self, storage, segment) -> _PerDocReader:
        return _PerDocReader(storage, segment)
