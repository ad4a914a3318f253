"""Datasets and answers: loaders for Logic-LM, BIG-Bench Hard, JSONL records and Hugging Face
`datasets`, one registry (`conf/data/*.yaml`), and the answer normalisation every scorer uses.

    >>> from l2l.data import load_dataset, is_correct
    >>> ex = load_dataset("bbh_web_of_lies", limit=1)[0]  # doctest: +SKIP
    >>> is_correct("no", ex.answer, ex.options)  # doctest: +SKIP
"""

from l2l.data.answers import Match, is_correct, match_answer, match_option, normalise_answer, parse_options
from l2l.data.example import Example, dedup_against, parse_split, puzzle_key, subset
from l2l.data.registry import DATASETS, DatasetSpec, benchmarks_root, load_dataset, project_root

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "Example",
    "Match",
    "benchmarks_root",
    "dedup_against",
    "is_correct",
    "load_dataset",
    "match_answer",
    "match_option",
    "normalise_answer",
    "parse_options",
    "parse_split",
    "project_root",
    "puzzle_key",
    "subset",
]
