"""Dataset loaders on the real shared benchmark files (read in place) and on small local files. (~3 s)"""

from __future__ import annotations

import json

import pytest

from l2l.data import DATASETS, Example, benchmarks_root, dedup_against, load_dataset, normalise_answer, parse_options
from l2l.errors import InputError

BENCH = benchmarks_root()
LOGICLM = ["logiclm_prontoqa", "logiclm_proofwriter", "logiclm_folio", "logiclm_logicaldeduction", "logiclm_arlsat"]
BBH = [
    "bbh_logical_deduction_three_objects",
    "bbh_logical_deduction_five_objects",
    "bbh_logical_deduction_seven_objects",
    "bbh_temporal_sequences",
    "bbh_geometric_shapes",
    "bbh_web_of_lies",
    "bbh_boolean_expressions",
    "bbh_date_understanding",
]


def _raw_count(name: str, split: str) -> int:
    spec = DATASETS[name]
    path = spec.resolve_path(split)
    if spec.format == "logiclm":
        return len(json.loads((path / f"{split}.json").read_text()))
    return len(json.loads(path.read_text())["examples"])


def test_the_issue_datasets_are_registered():
    assert set(LOGICLM + BBH) <= set(DATASETS)


@pytest.mark.parametrize("name,split", [(n, s) for n in LOGICLM + BBH for s in DATASETS[n].splits])
def test_every_registered_split_loads_with_canonical_gold(name, split):
    examples = load_dataset(name, split)
    assert len(examples) == _raw_count(name, split)  # nothing dropped or duplicated
    assert len({e.id for e in examples}) == len(examples)
    for e in examples:
        assert isinstance(e, Example) and e.dataset == name
        assert e.question.strip() and "Options:" not in e.question.split("\n")[-1]
        if e.options:
            letters = [L for L, _ in parse_options(e.options)]
            assert e.answer in letters
            assert all(text for _, text in parse_options(e.options))
        # The gold is already canonical: normalising it again changes nothing.
        assert normalise_answer(e.answer, e.options) == e.answer


def test_logiclm_question_is_context_then_question_without_options():
    e = load_dataset("logiclm_proofwriter", "dev", limit=1)[0]
    assert e.question.startswith(e.meta["context"]) and e.question.endswith(e.meta["question_only"])
    assert e.options == ["A) True", "B) False", "C) Unknown"]
    assert "A) True" not in e.question


def test_bbh_options_are_split_off_and_yes_no_tasks_keep_words():
    ld = load_dataset("bbh_logical_deduction_three_objects", limit=5)
    for e in ld:
        assert e.options and e.options[0].startswith("(A) ") and "(A)" not in e.question
    wol = load_dataset("bbh_web_of_lies")
    assert {e.answer for e in wol} == {"Yes", "No"} and all(e.options is None for e in wol)
    booleans = load_dataset("bbh_boolean_expressions")
    assert {e.answer for e in booleans} == {"True", "False"}


def test_subsets_are_deterministic_nested_and_in_source_order():
    full = load_dataset("logiclm_folio", "dev")
    a = load_dataset("logiclm_folio", "dev", limit=10, seed=3)
    b = load_dataset("logiclm_folio", "dev", limit=10, seed=3)
    c = load_dataset("logiclm_folio", "dev", limit=40, seed=3)
    d = load_dataset("logiclm_folio", "dev", limit=10, seed=4)
    assert [e.id for e in a] == [e.id for e in b]  # same seed, same subset
    assert {e.id for e in a} < {e.id for e in c}  # nested across limits
    assert {e.id for e in a} != {e.id for e in d}  # another seed, another subset
    pos = {e.id: i for i, e in enumerate(full)}
    assert [pos[e.id] for e in a] == sorted(pos[e.id] for e in a)


def test_split_slices_partition_the_split():
    tune = load_dataset("logiclm_folio", "dev[:20]")
    report = load_dataset("logiclm_folio", "dev[20:]")
    full = load_dataset("logiclm_folio", "dev")
    assert len(tune) == 20 and len(tune) + len(report) == len(full)
    assert not {e.id for e in tune} & {e.id for e in report}


def test_dedup_against_removes_train_puzzles_seen_in_eval():
    train = load_dataset("logiclm_logicaldeduction", "train")
    dev = load_dataset("logiclm_logicaldeduction", "dev")
    kept = dedup_against(train, dev)
    dev_puzzles = {e.meta["puzzle"] for e in dev}
    assert 0 < len(kept) < len(train)
    assert not any(e.meta["puzzle"] in dev_puzzles for e in kept)
    # The BBH tasks are the same BIG-bench puzzles: dedup works across the two formats.
    bbh = load_dataset("bbh_logical_deduction_five_objects")
    assert len(dedup_against(train, bbh)) < len(train)


def test_paths_load_without_the_registry():
    folder = BENCH / "logic-lm" / "FOLIO"
    assert len(load_dataset(str(folder), "dev")) == len(load_dataset("logiclm_folio", "dev"))  # Logic-LM folder
    assert load_dataset(str(folder / "dev.json"))[0].options[0] == "A) True"  # Logic-LM file, format detected
    bbh = load_dataset(str(BENCH / "bbh" / "date_understanding.json"), "[:5]")  # BBH file with a slice
    assert len(bbh) == 5 and bbh[0].options


def test_jsonl_records_are_validated_and_canonicalised(tmp_path):
    path = tmp_path / "puzzles.jsonl"
    rows = [
        {"id": "p1", "question": "2+2?", "answer": "4.0"},
        {"id": "p2", "question": "Is it?", "options": ["A) Yes", "B) No"], "answer": "No", "family": "x"},
        {"question": "No id here", "answer": "(C) red", "options": ["(A) blue", "(B) green", "(C) red"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    exs = load_dataset(str(path))
    assert [e.answer for e in exs] == ["4", "B", "C"]
    assert exs[1].meta["family"] == "x" and exs[2].id == "puzzles_2"


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"question": "q", "answer": "1"}\n{not json}\n', "line 2"),  # malformed line named
        ('{"question": "q"}\n', "missing field"),  # no answer
        ('{"question": "q", "answer": "D", "options": ["A) x", "B) y"]}\n', "does not name one of the options"),
        ('{"id": "a", "question": "q", "answer": "1"}\n{"id": "a", "question": "r", "answer": "2"}\n', "duplicate example id"),
    ],
)
def test_bad_jsonl_gives_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_dataset(str(path))


@pytest.mark.parametrize(
    "args,message",
    [
        (("no_such_dataset",), "unknown dataset"),
        (("logiclm_prontoqa", "train"), "no split 'train'"),
        (("logiclm_folio", "dev[x:]"), "bad split"),
    ],
)
def test_bad_names_and_splits_give_clear_errors(args, message):
    with pytest.raises(InputError, match=message):
        load_dataset(*args)


def test_missing_benchmarks_folder_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("L2L_BENCHMARKS", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="L2L_BENCHMARKS"):
        load_dataset("logiclm_folio", "dev")
