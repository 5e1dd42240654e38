"""How much text Punkt needs: training time on the first N characters, and the passages each model cuts.

    python benchmarks/punkt_sample.py [--corpus reuters|generated] [--sizes 250000,500000,1000000] [--out FILE]

Trains Punkt, as ``Index.build`` does (``Settings.punkt_sample_chars`` is the default's sample), on the first N
characters of the corpus's articles for each N, splits every article with each model, and counts the articles
cut into exactly the passages the largest sample's model cuts. Each sample is also learned by nltk's own
``PunktTrainer`` (the baseline of searchkit's ``FastPunktTrainer``), right after: its CPU seconds, and whether it
learned the same parameters. Prints a table; writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402
from searchkit.settings import DEFAULT  # noqa: E402
from searchkit.ingest import read_articles  # noqa: E402
from searchkit.passages import PassageSplitter, PunktTrainer, punkt_to_json, train_punkt  # noqa: E402


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("reuters", "generated"), default="reuters")
    parser.add_argument("--sizes", default=f"250000,{DEFAULT.punkt_sample_chars},1000000", help="sample characters")
    parser.add_argument("--out", type=Path, help="write the records as JSON here")
    args = parser.parse_args(argv)
    try:
        corpus = corpora.reuters() if args.corpus == "reuters" else corpora.generated(100_000)
    except corpora.CorpusUnavailable as e:
        raise SystemExit(f"skipped: {e}") from None
    articles = [a for f in corpus.article_files for a in read_articles(f)]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    cuts, records = {}, []
    for size in sizes:
        began, began_cpu = time.perf_counter(), time.process_time()
        params = train_punkt((a.text for a in articles), max_chars=size)
        seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        nltk_cpu, nltk_params = _nltk_trained([a.text for a in articles], size)
        records.append({"corpus": corpus.name, "sample_chars": size, "train_s": round(seconds, 3),
                        "train_cpu_s": round(cpu, 3), "nltk_train_cpu_s": round(nltk_cpu, 3),
                        # compared before splitting: Punkt's splitter adds the words it looks up to the parameters
                        "same_params_as_nltk": punkt_to_json(params) == punkt_to_json(nltk_params)})
        splitter = PassageSplitter(params)
        cuts[size] = [[p.span for p in splitter.split(a)] for a in articles]
    reference = cuts[sizes[-1]]
    for record in records:
        same = sum(a == b for a, b in zip(cuts[record["sample_chars"]], reference))
        record.update(articles=len(articles), same_passages_as_largest=same)
        print(f"{record['corpus']}: {record['sample_chars']:>9,} chars: trained in {record['train_cpu_s']:.2f} CPU s "
              f"({record['train_s']:.2f} s wall; nltk's trainer {record['nltk_train_cpu_s']:.2f} CPU s, "
              f"{'the same' if record['same_params_as_nltk'] else 'OTHER'} parameters); {same:,} of "
              f"{len(articles):,} articles cut as with {sizes[-1]:,}")
    if args.out:
        args.out.write_text(json.dumps(records, indent=1) + "\n")
    return records


def _nltk_trained(texts: list[str], max_chars: int):
    """CPU seconds and parameters of nltk's ``PunktTrainer`` on the sample ``train_punkt`` takes."""
    began = time.process_time()
    trainer, total = PunktTrainer(), 0
    for text in texts:
        if total >= max_chars:
            break
        try:
            trainer.train(text, finalize=False)
        except Exception:  # as train_punkt: a text Punkt fails on is left out
            continue
        total += len(text)
    trainer.finalize_training()
    return time.process_time() - began, trainer.get_params()


if __name__ == "__main__":
    main()
