"""Training rows never share a puzzle with an evaluation set (issue 14, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from l2l.train.dedup import dedup_rows, exact_key, held_out_texts, near_key

CONF = str(Path(__file__).resolve().parents[1] / "conf")


@pytest.fixture(scope="module")
def held_out():
    return held_out_texts()


def test_held_out_covers_every_report_split_and_bbh_task(held_out):
    from l2l.data.registry import read_registry

    _, names = held_out
    reports = {f"{s.name}:{s.report_split}" for s in read_registry().values() if s.format != "bbh" and s.report_split}
    assert reports <= set(names)
    assert {"bbh:logical_deduction_five_objects", "bbh:web_of_lies", "bbh:temporal_sequences"} <= set(names)


def test_every_bbh_task_file_is_held_out(held_out):
    # ruin_names' example 81 has a target no option letter matches ("rita, sue and bob poo"): reading
    # it with golds failed and the whole task was released for training (seen in the 1.5B recipe's log)
    from l2l.data.registry import benchmarks_root

    _, names = held_out
    files = sorted((benchmarks_root() / "bbh").glob("*.json"))
    assert files, "the BBH task files are not on this machine"
    assert {f"bbh:{f.stem}" for f in files} <= set(names)


def test_a_task_file_with_an_unreadable_gold_still_holds_out_its_puzzles(tmp_path):
    import json

    from l2l.data import load_dataset
    from l2l.data.bbh import bbh_puzzles
    from l2l.errors import InputError

    path = tmp_path / "edits.json"
    path.write_text(json.dumps({"examples": [
        {"input": "Which edit is funny: 'star wars'?\nOptions:\n(A) star wars\n(B) stap wars", "target": "(B)"},
        {"input": "Which edit is funny: 'rita, sue'?\nOptions:\n(A) rita\n(B) sue poo", "target": "rita, sue poo"},
    ]}))
    with pytest.raises(InputError, match="not one of the option letters"):
        load_dataset(str(path))  # evaluation still refuses the broken gold, with the record named
    assert bbh_puzzles(path) == ["Which edit is funny: 'star wars'?", "Which edit is funny: 'rita, sue'?"]


def test_logicaldeduction_training_rows_share_no_puzzle_with_evaluation(held_out):
    # Logic-LM LogicalDeduction train, the default training data on e632353, through the composed
    # config: then nothing filtered it and most of the dev puzzles were trained on.
    from l2l.train.data import filter_rows, load_rows

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=bilevel", "data=logiclm_logicaldeduction"])
    assert cfg.dedup.enabled is True
    rows = load_rows(cfg.data, limit=None, seed=0, split=cfg.loop.split)
    kept, report = filter_rows(cfg, rows)
    texts, _ = held_out
    exact = {exact_key(t) for t in texts}
    assert report["dropped"] > len(rows) // 2 and report["kept"] == len(kept) > 0
    assert not [r for r in kept if exact_key(r["puzzle"]) in exact]
    # the BBH logical_deduction puzzles are in Logic-LM's train split: every one must be gone
    from l2l.data import load_dataset

    for task in ("logical_deduction_three_objects", "logical_deduction_five_objects", "logical_deduction_seven_objects"):
        bbh = {exact_key(e.meta["puzzle"]) for e in load_dataset(f"bbh_{task}", split="test")}
        assert not bbh & {exact_key(r["puzzle"]) for r in kept}


# (what the case stands for, training puzzle, held-out puzzle, dropped as)
NEAR_CASES = [
    # the same text, other case and spacing
    ("case", "On a shelf, there are three books.  The red book is leftmost.", "on a shelf there are three books. the red book is leftmost.", "exact"),
    # names changed
    ("renamed", "Eve finished above Rob. Rob finished last.", "Ana finished above Joe. Joe finished last.", "near"),
    # clues reordered
    ("reordered", "The owl is left of the crow. The hawk is rightmost.", "The hawk is rightmost. The owl is left of the crow.", "near"),
    # a different puzzle stays
    ("different", "The owl is left of the crow. The hawk is leftmost.", "The owl is left of the crow. The hawk is rightmost.", None),
]


@pytest.mark.parametrize("name,train,held,reason", NEAR_CASES, ids=[c[0] for c in NEAR_CASES])
def test_near_duplicates(name, train, held, reason):
    kept, report = dedup_rows([{"question": train}], held_out=([held], ["test"]))
    if reason is None:
        assert kept and report.dropped == 0
    else:
        assert not kept and report.reasons == {reason: 1}


def test_near_key_ignores_names_only():
    assert near_key("Eve is tall. Bob is short.") == near_key("Bob is short. Ann is tall.")
    assert near_key("Eve is tall.") != near_key("Eve is short.")


def test_default_training_data_is_synthetic_and_filtered():
    # The default data is the synthetic mix; it passes through the same filter (and keeps its rows).
    from l2l.train.data import filter_rows, load_rows

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=bilevel"])
    rows = load_rows(cfg.data, limit=26, seed=0)
    kept, report = filter_rows(cfg, rows)
    assert cfg.data.name == "synthetic" and report["enabled"] and report["kept"] == len(kept) == len(rows)
