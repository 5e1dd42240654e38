"""Query text + filters → Whoosh query: strict, so malformed input raises QueryError naming the problem.

Whoosh's parser never fails: it silently drops a dangling ``AND``, an unclosed quote or an unknown field.
``build_query`` checks the text first, then lets Whoosh parse it, and reports anything it cannot use.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from whoosh import query as wq
from whoosh.matching import AndNotMatcher, IntersectionMatcher, UnionMatcher
from whoosh.qparser import MultifieldParser, OrGroup

from .dates import parse_phrase
from .errors import NothingToSearch, QueryError
from .normalise import normalise_source
from .placewords import with_place_names
from .places import PlaceNames
from .querywords import OPERATORS, plain_terms
from .schema import ANALYZER, SCHEMA, SEARCH_FIELDS, STOP_WORDS
from .scoring import query_term_weight
from .settings import DEFAULT, Settings

__all__ = [
    "ParsedQuery", "build_query", "expanded", "word_terms", "parse_filter_date", "QUERY_FIELDS", "OrderedOr",
    "OrderedAnd",
]

QUERY_FIELDS = ("title", "body", "date", "source", "place", "speaker", "tags", "authors", "article", "id", "path")
"""Field names usable as ``field:value`` in query text."""

MAX_QUERY_CHARS = 10_000
MAX_TERMS = 256
"""Terms of one query's text, a word counting once per field it searches (a plain word: twice, title and body):
each is a pass over an array of every passage (1,000 common-word terms took 1 s on 100k passages; the longest
query of the shared test collections has 116 words)."""
MAX_NESTING = 32
"""Parentheses deeper than this are refused: Whoosh's parser recurses once per level."""
MAX_PHRASE_WORDS = 32
"""Words in all "phrases" of one query: matching positions costs each phrase word a pass over its documents."""
MAX_FILTER_CHARS = 500
"""A filter value (source, place, speaker, since, until) longer than this is refused."""
MAX_OFFSET = 10_000
"""Hits skipped before the first one returned (``offset``, a page further down): each costs its place in the
ranking, as a hit does."""
_BINARY = OPERATORS - {"NOT"}
_TOKEN = re.compile(r'"[^"]*"?|\[[^\]]*\]?|\{[^}]*\}?|[()]|[^\s()"\[\]{}]+')
_FIELD_PREFIX = re.compile(r"([A-Za-z_]\w*):")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """What to score (``query``) and what to restrict to without scoring (``filter``, or None)."""

    query: wq.Query
    filter: wq.Query | None
    postings: int = 0
    """Postings its terms reach (words and the terms of patterns; see ``bounds.bound_patterns``), or 0: not counted."""
    shared: Mapping[bytes, bytes] = dataclasses.field(default_factory=dict)
    """Alias words of place names → the query word whose frequencies score each (``placewords.with_place_names``)."""


def build_query(
    text: str,
    *,
    source: str | None = None,
    place: str | None = None,
    since: date | str | None = None,
    until: date | str | None = None,
    speaker: str | None = None,
    syntax: bool = True,
    settings: Settings = DEFAULT,
    today: date | None = None,
    places: PlaceNames | None = None,
) -> ParsedQuery:
    """Parse query text (words, ``"phrases"``, AND/OR/NOT, ``field:value``, ``date:[A TO B]``) and filters.

    With ``syntax=False`` the text is plain words: quotes, brackets, colons and operators are ordinary
    characters, and any of the words may match (as for a question pasted into a search box). ``settings`` give
    the title's weight and the saturation of repeated plain words. ``since``/``until`` and ``date:`` values are date
    phrases (``2019``, ``March 2019``, ``last week``: see ``dates``), relative ones counted from ``today``
    (default: ``date.today()``); ``since`` takes a phrase's first day, ``until`` its last. With ``places``, a
    place filter matches every name of its place, and a place's name among the words finds its other names too
    (``placewords.with_place_names``).

    Raises:
        NothingToSearch: every word of the text is a stop word (or a single letter, or punctuation).
        QueryError: the text or a filter is malformed; the message says what is wrong.
    """
    today = date.today() if today is None else today
    if not syntax:
        return _with_places(_plain_words(text, settings), _filters([], source, place, since, until, speaker, today), places)
    _check_syntax(text)
    parsed = _parsed_words(text, settings)
    if parsed is None:
        parser = MultifieldParser(list(SEARCH_FIELDS), SCHEMA, fieldboosts={"title": settings.title_boost},
                                  group=OrGroup)
        try:
            parsed = parser.parse(_iso_dates(text, today))
        except Exception as e:  # Whoosh raises bare exceptions for values it cannot convert (e.g. dates)
            raise QueryError(f"cannot parse query: {_one_line(e)}") from None
    for node in _walk(parsed):
        error = getattr(node, "error", None)
        if error:
            raise QueryError(f"cannot parse query: {_one_line(error)}")
    if sum(1 for _ in parsed.leaves()) > MAX_TERMS:
        raise QueryError(f"query has more than {MAX_TERMS} terms")
    if all(leaf is wq.NullQuery for leaf in parsed.leaves()):
        raise _nothing_to_search(text)
    scored, restrictions = _split_restrictions(_exclude_negations(parsed))
    return _with_places(scored, _filters(restrictions, source, place, since, until, speaker, today), places)


def _parsed_words(text: str, settings: Settings) -> wq.Query | None:
    """What Whoosh's parser (as ``build_query`` sets it up) makes of text of words alone, each one term or a stop
    word, with no operator but AND between every two words, no field, quote, pattern or other syntax; None for
    any other text. Whoosh's parser takes 0.4 ms for two words, where this takes 5 µs.

    Whoosh's parser makes an OR (an AND) of each word's OR of its fields' terms and normalizes it: the nested ORs
    flattened, the same term (field, text and boost) or word kept once, where it first occurs, no term a null
    query and one term (word) that term (word). This builds that query directly, each word analysed once (the
    search fields share ``ANALYZER``, whose steps do not depend on Whoosh's query mode; ``analyze`` is its cached
    loop).
    """
    words = text.split()
    every = len(words) > 1 and len(words) % 2 == 1 and all(w == "AND" for w in words[1::2])
    if every:
        words = words[::2]
    terms = plain_terms(words)
    if terms is None:
        return None
    fields = {term: [wq.Term(field, term, boost=settings.title_boost if field == "title" else 1.0)
                     for field in SEARCH_FIELDS] for term in terms}  # each word's term → its terms in the fields
    if every:
        parts = [terms[0] if len(terms) == 1 else wq.Or(terms) for terms in fields.values()]
        return wq.NullQuery if not parts else parts[0] if len(parts) == 1 else wq.And(parts)
    unique = list({(t.fieldname, t.text, t.boost): t for terms in fields.values() for t in terms}.values())
    return wq.NullQuery if not unique else unique[0] if len(unique) == 1 else wq.Or(unique)


assert all(SCHEMA[field].analyzer is ANALYZER for field in SEARCH_FIELDS), "_parsed_words analyses once for all"


def _with_places(scored: wq.Query, restriction: wq.Query | None, places: PlaceNames | None) -> ParsedQuery:
    """The parsed query, widened by ``places`` where given."""
    if places is None:
        return ParsedQuery(_union_trees(scored), restriction)
    scored, shared = with_place_names(scored, places)
    restriction = restriction and with_place_names(restriction, places)[0]
    return ParsedQuery(_union_trees(scored), restriction, shared=shared)


def _plain_words(text: str, settings: Settings) -> wq.Query:
    """Any of the analysed words in any search field; a repeated word weighs more, saturating (``Settings.k3``)."""
    _check_length(text)
    counts = Counter(token.text for token in SCHEMA["body"].analyzer(text, mode="query"))
    if not counts:
        raise _nothing_to_search(text)
    if len(counts) * len(SEARCH_FIELDS) > MAX_TERMS:
        raise QueryError(f"query has more than {MAX_TERMS // len(SEARCH_FIELDS)} distinct words")
    return wq.Or([
        wq.Or([wq.Term(field, word, boost=_field_weight(field, query_term_weight(n, settings.k3), settings))
               for field in SEARCH_FIELDS])
        for word, n in counts.items()
    ])


def word_terms(leaf: wq.Query) -> list[tuple[str, bytes]]:
    """The indexed terms of a word or phrase leaf (its words; none for a value its field cannot hold), or none."""
    if not isinstance(leaf, (wq.Term, wq.Phrase)) or leaf.fieldname not in SCHEMA:
        return []
    field = SCHEMA[leaf.fieldname]
    terms = []
    for word in [leaf.text] if isinstance(leaf, wq.Term) else leaf.words:
        try:
            terms.append((leaf.fieldname, field.to_bytes(word)))
        except ValueError:  # a value the field cannot hold matches nothing (as in Whoosh's Term.matcher)
            continue
    return terms


def _field_weight(field: str, weight: float, settings: Settings) -> float:
    return weight * settings.title_boost if field == "title" else weight


def expanded(parsed: ParsedQuery, words: list[tuple[str, float]], original_weight: float) -> ParsedQuery:
    """``parsed`` with weighted expansion words (analysed terms) added, in any search field.

    The original query weighs ``original_weight``, the words the rest. Where the original matches any of its
    words (words combined by OR alone, as plain words are), the expansion words may match on their own too;
    otherwise (AND, NOT, phrases, wildcards) they only reorder what the original matches. The filter is unchanged.
    """
    if not words:
        return parsed
    expansion = wq.Or([
        wq.Or([wq.Term(field, word, boost=weight) for field in SEARCH_FIELDS]) for word, weight in words
    ], boost=1 - original_weight)
    original = parsed.query.with_boost(original_weight)
    any_word = all(isinstance(node, wq.Or) or type(node) is wq.Term for node in _walk(parsed.query))
    combined = wq.Or([original, expansion]) if any_word else wq.AndMaybe(original, expansion)
    # Whoosh's AND-MAYBE probes every expansion word at each match of the original
    return replace(parsed, query=_union_trees(combined), postings=parsed.postings * (1 + len(words)))


def parse_filter_date(value: date | str | None, name: str, today: date | None = None) -> date | None:
    """A ``since`` value as its phrase's first day, an ``until`` value as its last (``dates.parse_phrase``).

    Raises:
        QueryError: the grammar does not know the phrase, or it is ambiguous.
    """
    if value is None or isinstance(value, date):
        return value
    days = parse_phrase(_filter_value(name, value), today=date.today() if today is None else today, name=name)
    return days.end if name == "until" else days.start


def _iso_dates(text: str, today: date) -> str:
    """``text`` with each ``date:`` value (a phrase, ``"a phrase"``, ``[A TO B]``) as ``date:[YYYY-MM-DD TO ...]``.

    Whoosh's DATETIME field reads only digits (``date:2019``, ``date:[2017-11-01 TO 2017-11-30]``), fails on
    ``date:yesterday`` and matches ``date:"March 2019"`` as a phrase of nothing; here each value goes through the
    same grammar as ``since``/``until``. Quoted phrases elsewhere in the text are single tokens, left alone.
    """
    out: list[str] = []
    last = 0
    tokens = list(_TOKEN.finditer(text))
    for i, m in enumerate(tokens):
        if m.start() < last or not m[0].startswith("date:"):
            continue
        if m[0] == "date:":
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if following is None or following.start() != m.end() or following[0][0] not in '"[{':
                continue  # nothing attached: _check_syntax refused it already, or Whoosh reads it as before
            value, end = following[0], following.end()
        else:
            value, end = m[0][len("date:"):], m.end()
        out.append(text[last:m.start()])
        out.append(_date_clause(value, today))
        last = end
    out.append(text[last:])
    return "".join(out)


def _date_clause(value: str, today: date) -> str:
    """One ``date:`` value as an inclusive ISO range Whoosh parses: ``[A TO B]`` and ``{A TO B}`` ends are phrases."""
    if value == "*":
        return "date:*"
    if value[0] in "[{":
        exclusive = value[0] == "{"
        inner = value[1:-1]
        parts = re.split(r"(?:^|\s)TO(?:\s|$)", inner, maxsplit=1)
        if len(parts) != 2:
            raise QueryError(f"date range {value[:60]!r} must be [FROM TO UNTIL]")
        ends = [part.strip().strip('"').strip() for part in parts]
        first, second = (parse_phrase(end, today=today, name="query date") if end else None for end in ends)
        start = None if first is None else first.end + _DAY if exclusive else first.start
        stop = None if second is None else second.start - _DAY if exclusive else second.end
        if start and stop and start > stop:
            raise QueryError(f"date range {value[:60]!r} starts after it ends")
        return _range_text(start, stop)
    if value[0] == '"':
        days = parse_phrase(value.strip('"'), today=today, name="query date")
    else:
        try:
            days = parse_phrase(value, today=today, name="query date")
        except QueryError as e:
            raise QueryError(f'{e}; quote a phrase of several words: date:"last week"') from None
    return _range_text(days.start, days.end)


def _range_text(start: date | None, end: date | None) -> str:
    """An inclusive ``date:`` range in the form Whoosh's parser reads (an open end left out)."""
    return "date:[" + " ".join(part for part in (start and start.isoformat(), "TO", end and end.isoformat()) if part) + "]"


def _nothing_to_search(text: str) -> NothingToSearch:
    stop_words = [w for w in dict.fromkeys(re.findall(r"\w+", text.lower())) if w in STOP_WORDS]
    if stop_words:
        return NothingToSearch(
            f"every word of the query is a stop word or a single letter ({', '.join(stop_words)[:200]}); "
            "nothing to search"
        )
    return NothingToSearch("the query has no word to search (only punctuation or single letters)")


def _filter_value(name: str, value: str) -> str:
    """``value`` checked as filter text: refused where it could match nothing for a reason the user cannot see."""
    _check_text(value, name)
    if len(value) > MAX_FILTER_CHARS:
        raise QueryError(f"{name} is longer than {MAX_FILTER_CHARS} characters")
    return value


def _keyword(name: str, value: str | None, normalise) -> wq.Query | None:
    """A filter on a keyword field (``source``, ``place``): None when not given; its value must name something."""
    if value is None:
        return None
    key = normalise(_filter_value(name, value))
    if not key or not any(c.isalnum() for c in key):
        raise QueryError(f"{name} {value!r} has no letters or digits to match")
    return wq.Term(name, key.lower())


def _filters(clauses: list[wq.Query], source, place, since, until, speaker, today: date) -> wq.Query | None:
    """One query of every restriction: metadata clauses of the query text and the keyword filters."""
    clauses = list(clauses)
    for name, value, normalise in (("source", source, normalise_source), ("place", place, _squeeze)):
        keyword = _keyword(name, value, normalise)
        if keyword is not None:
            clauses.append(keyword)
    start, end = parse_filter_date(since, "since", today), parse_filter_date(until, "until", today)
    if start and end and start > end:
        raise QueryError(f"since ({start}) is after until ({end})")
    if start or end:
        clauses.append(
            wq.DateRange(
                "date",
                datetime.combine(start, time.min) if start else None,
                datetime.combine(end, time.max) if end else None,
            )
        )
    if speaker is not None:
        words = [t.text for t in SCHEMA["speaker"].analyzer(_filter_value("speaker", speaker))]
        if not words:
            raise QueryError(f"speaker {speaker!r} has no words to match")
        clauses.extend(wq.Term("speaker", w) for w in words)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else wq.And(clauses)


def _exclude_negations(q: wq.Query) -> wq.Query:
    """Make ``NOT x`` remove the passages matching ``x`` from its whole group, as in Lucene-style engines.

    Whoosh's OR group would match ``forum NOT Chelyabinsk`` by any passage lacking "Chelyabinsk".
    """
    if not isinstance(q, (wq.Or, wq.And)):
        return q.apply(_exclude_negations) if q.children() else q
    children = [_exclude_negations(c) for c in q.subqueries]
    excluded = [c.query for c in children if isinstance(c, wq.Not)]
    kept = [c for c in children if not isinstance(c, wq.Not)]
    if not kept or not excluded:
        return q if not kept else type(q)(kept, boost=q.boost)
    positive = type(q)(kept, boost=q.boost) if len(kept) > 1 else kept[0]
    return _Exclude(positive, wq.Or(excluded) if len(excluded) > 1 else excluded[0])


def _split_restrictions(q: wq.Query) -> tuple[wq.Query, list[wq.Query]]:
    """Split the top-level group into the words that score and the metadata clauses that only restrict.

    ``source:kremlin Syria`` then means Kremlin passages about Syria, scored as ``Syria`` alone, where Whoosh's
    OR group would return every Kremlin passage.
    """
    if isinstance(q, _Exclude):
        scored, restrictions = _split_restrictions(q.a)
        return _Exclude(scored, q.b), restrictions
    if isinstance(q, (wq.Or, wq.And)):
        restrictions = [c for c in q.subqueries if _only_metadata(c)]
        scoring = [c for c in q.subqueries if not _only_metadata(c)]
        if scoring and restrictions:
            return (type(q)(scoring, boost=q.boost) if len(scoring) > 1 else scoring[0]), restrictions
    return q, []


class _ExcludeMatcher(AndNotMatcher):
    """Whoosh 2.7.4's AndNotMatcher skips the excluded matcher ahead only when both start on the same
    document, so an excluded document after the first match survives. Always skip."""

    def _find_first(self):
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class _Exclude(wq.AndNot):
    """``a`` without the documents matching ``b``."""

    def matcher(self, searcher, context=None):
        return _ExcludeMatcher(self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context()))


def _only_metadata(q: wq.Query) -> bool:
    return all(getattr(leaf, "fieldname", None) not in SEARCH_FIELDS for leaf in q.leaves())


def _squeeze(value: str) -> str:
    return " ".join(value.split())


def _check_text(text: str, name: str) -> None:
    """Text Whoosh can look up: a lone surrogate (from undecodable bytes) cannot be encoded as UTF-8."""
    bad = next((c for c in text if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        raise QueryError(f"{name} holds a lone surrogate (U+{ord(bad):04X}), which is not text")


def _check_length(text: str) -> None:
    _check_text(text, "query")
    if not text or not text.strip():
        raise QueryError("empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query is longer than {MAX_QUERY_CHARS} characters")


def _check_syntax(text: str) -> None:
    _check_length(text)
    if text.count('"') % 2:
        raise QueryError('unbalanced quote: a "phrase" is not closed')
    depth = phrase_words = 0
    previous: str | None = None
    awaiting_value: str | None = None
    tokens = _TOKEN.findall(text)
    if len(tokens) > MAX_TERMS:  # refused before Whoosh's parser spends a millisecond on each
        raise QueryError(f"query has more than {MAX_TERMS} terms")
    for token in tokens:
        if awaiting_value and (token == ")" or token in _BINARY or token == "NOT"):
            raise QueryError(f"field {awaiting_value!r} has no value")
        awaiting_value = None
        if token[0] == "[" and not token.endswith("]") or token[0] == "{" and not token.endswith("}"):
            raise QueryError(f"unclosed range {token!r}: write field:[FROM TO UNTIL]")
        if token[0] == '"':
            phrase_words += len(token.strip('"').split())
        if token == "(":
            depth += 1
            if depth > MAX_NESTING:
                raise QueryError(f"parentheses are nested deeper than {MAX_NESTING} levels")
        elif token == ")":
            depth -= 1
            if depth < 0:
                raise QueryError("unbalanced parenthesis: ')' without '('")
            if previous in _BINARY or previous == "NOT":
                raise QueryError(f"operator {previous} has nothing after it")
        elif token in _BINARY:
            if previous is None or previous == "(" or previous in _BINARY or previous == "NOT":
                raise QueryError(f"operator {token} has nothing before it")
        elif token[0] not in '"[{':
            m = _FIELD_PREFIX.match(token)
            if m and m[1] not in QUERY_FIELDS:
                raise QueryError(f"unknown field {m[1]!r}; fields: {', '.join(QUERY_FIELDS)}")
            if m and m.end() == len(token):
                awaiting_value = m[1]
        previous = token
    if awaiting_value:
        raise QueryError(f"field {awaiting_value!r} has no value")
    if phrase_words > MAX_PHRASE_WORDS:
        raise QueryError(f"the phrases hold {phrase_words} words; a query may have at most {MAX_PHRASE_WORDS}")
    if depth:
        raise QueryError("unbalanced parenthesis: '(' is not closed")
    if previous in _BINARY or previous == "NOT":
        raise QueryError(f"operator {previous} has nothing after it")


def _union_trees(q: wq.Query) -> wq.Query:
    """``q`` with every OR and AND matched by an order-preserving binary tree of union (intersection) matchers.

    Whoosh shapes those trees by each segment's term frequencies, so the order in which a passage's matched words
    are summed — the last bits of its score — depended on how passages fell into segments (or shards); and in
    segments of 5,000 documents or fewer it read every posting of an OR in Python before scoring. Here a score
    sums the words in the query's order in every segment, and Whoosh and the top-k arrays evaluate the same tree.
    """
    if isinstance(q, wq.Or) and not isinstance(q, OrderedOr):
        return OrderedOr([_union_trees(c) for c in q.subqueries], boost=q.boost)
    if isinstance(q, wq.And) and not isinstance(q, OrderedAnd):
        return OrderedAnd([_union_trees(c) for c in q.subqueries], boost=q.boost)
    return q.apply(_union_trees) if q.children() else q


class OrderedOr(wq.Or):
    """OR as an order-preserving binary tree of union matchers (see ``_union_trees``)."""

    def _matcher(self, subs, searcher, context):
        return self._tree_matcher(subs, UnionMatcher, searcher, context, None)


class OrderedAnd(wq.And):
    """AND as an order-preserving binary tree of intersection matchers (see ``_union_trees``)."""

    def _matcher(self, subs, searcher, context):
        return self._tree_matcher(subs, IntersectionMatcher, searcher, context, None)


def _walk(q: wq.Query):
    yield q
    for child in q.children():
        yield from _walk(child)


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
