"""File → Article: every seed variant's metadata, JSON Lines, furniture stripping, bad files."""

from __future__ import annotations

import json
from datetime import date

import pytest

from searchkit import ArticleError
from searchkit.ingest import iter_input_files, normalise_source, parse_date, read_articles

SEEDS = {
    "000_0475abc784c58e57": dict(date=date(2017, 11, 10), place="Astana", source="Kazinform", title=None,
                                 starts="Today, a representative of the Ministry"),
    "001_1e54385107a71e68": dict(date=date(2017, 11, 9), place="Chelyabinsk", source="Kazinform", title=None,
                                 starts="The governments of Kazakhstan and Russia will sign"),
    "002_3b08a6e99769a028": dict(date=date(2019, 10, 9), place="Nur-Sultan", source="Kazinform", title=None,
                                 starts="Foreign Minister Mukhtar Tleuberdi"),
    "003_9cb6d1b06f34c5b0": dict(date=date(2017, 11, 9), place="Chelyabinsk", source="Kremlin",
                                 title="Russia-Kazakhstan Interregional Cooperation Forum",
                                 starts="Vladimir Putin took part in the 14th"),
    "004_1c9a91d3e2df1cb5": dict(date=None, place="Astana", source="The Times of Central Asia",
                                 title="Kazakhstan and Russia to hold forum of interregional cooperation",
                                 starts="On November 9, the Russian city of Chelyabinsk"),
}
FURNITURE = ["View more articles", "divider", "Text version", "* * *", "<…>", "Publication status",
             "Sergey Kwan has worked", "Kwan studied", "Geography", "date 2017", "KAZIFORM", "(TCA) —"]


def _body(article) -> str:
    return "\n".join(article.text[p.start:p.end] for p in article.paragraphs)


@pytest.mark.parametrize("stem", sorted(SEEDS))
def test_seed_metadata(seeds_dir, stem):
    [article] = list(read_articles(seeds_dir / f"{stem}.txt"))
    expected = SEEDS[stem]
    assert article.id == stem
    assert (article.date, article.place, article.source, article.title) == (
        expected["date"], expected["place"], expected["source"], expected["title"])
    assert _body(article).startswith(expected["starts"])
    for furniture in FURNITURE:
        assert furniture not in _body(article), furniture


def test_a_transcript_speaker_has_one_label_whatever_office_introduces_them(seeds_dir, tmp_path):
    lines = (seeds_dir / "003_9cb6d1b06f34c5b0.txt").read_text().split("\n")
    opening = next(i for i, line in enumerate(lines) if line.startswith("Vladimir Putin:"))
    lines[opening:opening] = ["President of Kazakhstan Nursultan Nazarbayev: Thank you, Mr Putin.", "",
                              "Governor of the Chelyabinsk Region Boris Dubrovsky: Welcome to the region.", ""]
    (tmp_path / "kremlin.txt").write_text("\n".join(lines))
    [article] = list(read_articles(tmp_path / "kremlin.txt"))
    speakers = [p.speaker for p in article.paragraphs if p.speaker]
    # Nazarbayev by the trailer's "Persons: Nazarbayev Nursultan"; Dubrovsky, named nowhere else, as labelled
    assert speakers == ["Vladimir Putin", "Nursultan Nazarbayev",
                        "Governor of the Chelyabinsk Region Boris Dubrovsky", "Vladimir Putin"]

def test_kremlin_trailer_is_metadata_and_speakers_are_found(seeds_dir):
    [article] = list(read_articles(seeds_dir / "003_9cb6d1b06f34c5b0.txt"))
    assert article.tags == ("Chelyabinsk Region", "Economy and finance", "Foreign policy", "Nazarbayev Nursultan")
    speakers = [p.speaker for p in article.paragraphs if p.speaker]
    assert speakers == ["Vladimir Putin", "Vladimir Putin"]  # introduced with his office, then by name
    labelled = [p for p in article.paragraphs if p.speaker]
    assert article.text[labelled[0].start:].startswith("Mr Nazarbayev, colleagues")
    # the photo caption repeating the title, the date, time and place lines are not body text
    assert "18:40" not in _body(article) and "\nChelyabinsk\n" not in _body(article)
    assert not any(article.text[p.start:p.end].rstrip(".") == article.title for p in article.paragraphs)


def test_broken_line_is_joined_into_its_paragraph(seeds_dir):
    [article] = list(read_articles(seeds_dir / "003_9cb6d1b06f34c5b0.txt"))
    joined = [article.text[p.start:p.end] for p in article.paragraphs if "Nursultan Nazarbayev\nsigned" in
              article.text[p.start:p.end]]
    assert len(joined) == 1


def test_tca_byline_becomes_authors(seeds_dir):
    [article] = list(read_articles(seeds_dir / "004_1c9a91d3e2df1cb5.txt"))
    assert article.authors == ("Sergey Kwan",)
    assert _body(article).rstrip().endswith("regions located along that borderline.")


@pytest.mark.parametrize("written, canonical", [
    ("KAZIFORM", "Kazinform"), ("Kazinform", "Kazinform"), ("kaz inform", "Kazinform"), ("TCA", "The Times of Central Asia"),
    ("Times of Centrl Asia", "The Times of Central Asia"), ("kremlin.ru", "Kremlin"), ("Some Local Paper", "Some Local Paper"),
])
def test_source_names_are_normalised(written, canonical):
    assert normalise_source(written) == canonical


@pytest.mark.parametrize("text, expected", [
    ("2017-11-09", date(2017, 11, 9)), ("2017-11-09T18:40:00Z", date(2017, 11, 9)),
    ("November 9, 2017", date(2017, 11, 9)), ("2017-13-45", None), ("yesterday", None), ("", None), (None, None),
])
def test_dates_are_parsed_or_absent_never_guessed(text, expected):
    assert parse_date(text) == expected


def test_jsonl_articles_with_a_bad_line_in_the_middle(tmp_path):
    lines = [
        json.dumps({"id": "a1", "date": "2020-01-02", "source": "reuters", "place": "London", "title": "T1",
                    "text": "First paragraph.\n\nSecond paragraph.", "tags": ["oil", "opec"], "authors": "Ann Lee",
                    "url": "https://example.com/a1"}),
        "{not json",
        json.dumps({"id": "a3", "text": "Only text here.", "date": "2017-13-45"}),
        json.dumps({"id": "a4", "text": "   "}),
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors: list[ArticleError] = []
    articles = list(read_articles(path, on_error=errors.append))
    assert [a.id for a in articles] == ["a1", "a3"]
    first = articles[0]
    assert (first.line, first.date, first.source, first.place, first.title) == (1, date(2020, 1, 2), "Reuters", "London", "T1")
    assert first.tags == ("oil", "opec") and first.authors == ("Ann Lee",) and first.url == "https://example.com/a1"
    assert [first.text[p.start:p.end] for p in first.paragraphs] == ["First paragraph.", "Second paragraph."]
    assert articles[1].date is None and articles[1].line == 3
    assert [(e.line, e.reason.split(" ")[0]) for e in errors] == [(2, "malformed"), (4, "missing")]


def test_text_that_starts_like_furniture_is_kept(tmp_path):
    text = ("Subscribe to our Telegram channel\n\nSubscribers to the service grew by a fifth. Most of them "
            "read it daily.\n\nShare prices fell.\n\nView more articles from TCA")
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"id": "s1", "text": text}) + "\n" + json.dumps({"id": "s2", "text": "Subscribe "
                    "inward someone capital design book. All building as teams interest development."}) + "\n")
    first, second = read_articles(path)
    assert [first.text[p.start:p.end] for p in first.paragraphs] == [
        "Subscribers to the service grew by a fifth. Most of them read it daily.", "Share prices fell."]
    assert len(second.paragraphs) == 1


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"), (b"  \n\n ", "empty file"), (b"\x89PNG\r\n\x1a\n\0\0\0", "binary"),
    ("caf\u00e9".encode("latin-1") + b" au lait", "not UTF-8"),
])
def test_bad_files_raise_article_error(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ArticleError, match=reason):
        list(read_articles(path))


def test_crlf_and_bom_keep_offsets_exact(tmp_path):
    raw = "\ufeffHeadline here\r\n\r\nFirst para line one\r\nline two.\r\n\r\nSecond para.\r\n"
    path = tmp_path / "crlf.txt"
    path.write_bytes(raw.encode("utf-8"))
    [article] = list(read_articles(path))
    decoded = path.read_bytes().decode("utf-8-sig")
    assert article.text == decoded and article.title == "Headline here"
    assert [decoded[p.start:p.end] for p in article.paragraphs] == ["First para line one\r\nline two.", "Second para."]


def test_iter_input_files_walks_folders_once_and_skips_hidden(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "y.txt").write_text("y")
    (tmp_path / "z.jsonl").write_text("{}")
    files = list(iter_input_files([tmp_path, tmp_path / "z.jsonl"]))
    assert [f.rsplit("/", 1)[-1] for f in files] == ["x.txt", "z.jsonl"]
