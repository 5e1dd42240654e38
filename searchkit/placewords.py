"""A query widened by place names: each place filter, and each place's name among the query's words, OR-ed with
the place's other names from a ``places.PlaceNames`` table (``query`` calls it).
"""

from __future__ import annotations

from whoosh import query as wq

from .places import ALIAS_WEIGHT, PlaceNames
from .schema import SEARCH_FIELDS

__all__ = ["with_place_names"]


def with_place_names(q: wq.Query, names: PlaceNames) -> tuple[wq.Query, dict[bytes, bytes]]:
    """``q`` with each place filter (``place:astana``) matching every name of its place, and each word, hyphenated
    word, phrase or run of words in an OR group in a search field that is a place's name in text OR-ed with the
    place's other names (a name of several words as a phrase); and each alias word → the query word whose frequencies score it
    (``scoring.SharedFrequencies``). An alias of ``k`` words for a name of ``n`` weighs ``ALIAS_WEIGHT·n/k`` of
    the name, so that one occurrence of it scores ``ALIAS_WEIGHT`` of one of the name (a phrase scores the sum
    of its words); a word of the query itself keeps its own frequencies."""
    widening = _Widening(names)
    widened = widening.query(q)
    written = {text for _, text in _words(q)}
    return widened, {alias: word for alias, word in widening.shared.items() if alias not in written}


class _Widening:
    def __init__(self, names: PlaceNames) -> None:
        self.names = names
        self.shared: dict[bytes, bytes] = {}

    def query(self, q: wq.Query) -> wq.Query:
        if type(q) is wq.Term and q.fieldname == "place":
            keys = self.names.names(q.text)
            return q if len(keys) == 1 else wq.Or([wq.Term("place", key) for key in keys], boost=q.boost)
        if isinstance(q, wq.Or):
            children = self._children(q.subqueries, wq.Or)
            return type(q)(children + self._names_in_a_row(children), boost=q.boost)
        if isinstance(q, wq.And):
            return type(q)(self._children(q.subqueries, type(q)), boost=q.boost)
        if type(q) is wq.Term and q.fieldname in SEARCH_FIELDS:
            return self._with_aliases(q, (q.text,), q.fieldname, q.boost)
        if type(q) is wq.Phrase and q.fieldname in SEARCH_FIELDS:
            return self._with_aliases(q, tuple(q.words), q.fieldname, q.boost)
        return q.apply(self.query) if q.children() else q

    def _children(self, children: list[wq.Query], group: type) -> list[wq.Query]:
        """``children`` widened, each run of words of one field that is a name of several words (``Nur-Sultan``
        parses as ``nur``, ``sultan``) grouped as it was and OR-ed with the place's other names."""
        out: list[wq.Query] = []
        i = 0
        while i < len(children):
            for n in range(min(self.names.longest, len(children) - i), 1, -1):
                run = children[i:i + n]
                if all(type(c) is wq.Term and c.fieldname == run[0].fieldname for c in run) and \
                        run[0].fieldname in SEARCH_FIELDS:
                    grouped = group(run)
                    widened = self._with_aliases(grouped, tuple(c.text for c in run), run[0].fieldname, run[0].boost)
                    if widened is not grouped:
                        out.append(widened)
                        i += n
                        break
            else:
                out.append(self.query(children[i]))
                i += 1
        return out

    def _names_in_a_row(self, children: list[wq.Query]) -> list[wq.Query]:
        """The other names of each name of several words written as words in a row in an OR group (``St
        Petersburg``: ``st``, ``petersburg`` in each field, or per word an OR of its fields in plain words)."""
        rows: dict[str, list[wq.Term | None]] = {field: [] for field in SEARCH_FIELDS}
        for child in children:
            terms = [child] if type(child) is wq.Term else list(child.subqueries) if type(child) is wq.Or else []
            if not terms or any(type(t) is not wq.Term for t in terms):
                terms = []
                for row in rows.values():
                    row.append(None)  # not a word: the words before and after it are not in a row
            for term in terms:
                if term.fieldname in rows:
                    rows[term.fieldname].append(term)
        found: list[wq.Query] = []
        for field, row in rows.items():
            i = 0
            while i < len(row):
                for n in range(min(self.names.longest, len(row) - i), 1, -1):
                    run = row[i:i + n]
                    words = tuple(t.text for t in run if t is not None)
                    aliases = self._aliases(words, field, run[0].boost) if len(words) == n and run[0] else []
                    if aliases:
                        found.append(wq.Or(aliases))
                        i += n
                        break
                else:
                    i += 1
        return found

    def _with_aliases(self, q: wq.Query, words: tuple[str, ...], field: str, boost: float) -> wq.Query:
        aliases = self._aliases(words, field, boost)
        return wq.Or([q, *aliases]) if aliases else q

    def _aliases(self, words: tuple[str, ...], field: str, boost: float) -> list[wq.Query]:
        """The other names of the name ``words`` in ``field``, each weighted against it (``with_place_names``)."""
        aliases = self.names.aliases(words)
        for alias in aliases:
            for word in alias:
                self.shared.setdefault(word.encode("utf-8"), words[0].encode("utf-8"))
        return [
            wq.Term(field, alias[0], boost=boost * ALIAS_WEIGHT * len(words)) if len(alias) == 1
            else wq.Phrase(field, list(alias), boost=boost * ALIAS_WEIGHT * len(words) / len(alias))
            for alias in aliases
        ]


def _words(q: wq.Query):
    """The (field, word) of every word and phrase word of ``q``."""
    if type(q) is wq.Term:
        yield q.fieldname, q.text.encode("utf-8")
    elif type(q) is wq.Phrase:
        yield from ((q.fieldname, word.encode("utf-8")) for word in q.words)
    for child in q.children():
        yield from _words(child)
