"""Synthetic `mix` data configs (l2l/train/data.py) and the difficulty curriculum (l2l/train/curriculum.py).

Everything but the last test is pure Python plus puzzle generation (seconds). The last one runs
train.py once on the tiny random Qwen2 (about a minute on 2 busy cores) and then restores the run
in-process the way resume=true does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from l2l.errors import InputError
from l2l.train.curriculum import Curriculum
from l2l.train.data import load_rows, split_rows

ROOT = Path(__file__).resolve().parents[1]


def mix(*entries: tuple[str, int, dict], seed: int = 0, **extra) -> dict:
    return {"seed": seed, "mix": [{"family": f, "n": n, "difficulty": d} for f, n, d in entries], **extra}


def entry_of(row: dict, seed: int) -> int:
    """Mix entry index of a row: entry i generates with seed `seed + i` (ids are family-s<seed>-<k>)."""
    return int(row["id"].rsplit("-s", 1)[1].split("-")[0]) - seed


def knobs(row: dict) -> dict:
    return json.loads(row["difficulty"])


# ---------------------------------------------------------------------------------------------- mix loader

MIX_CASES = {
    # name: (entries, limit, expected rows per entry)
    "two families, fixed knobs": ([("ordering", 3, {"objects": 4}), ("knights_knaves", 2, {"people": 3})], None, [3, 2]),
    "one family, two difficulties": ([("ordering", 2, {"objects": 3}), ("ordering", 2, {"objects": 6})], None, [2, 2]),
    "categorical knob": ([("rules_negation", 2, {"world": "open"}), ("syllogism", 1, {"depth": 2, "distractors": 0})], None, [2, 1]),
    "sub-range knob": ([("ordering", 4, {"objects": [5, 6]}), ("temporal", 1, {})], None, [4, 1]),
    # 6 of 12: quotas 3, 1.5, 1.5 -> 3, 1, 1 and the spare row to the earlier tie
    "limit scales proportionally": ([("syllogism", 6, {"depth": 2}), ("ordering", 3, {"objects": 3}), ("temporal", 3, {})], 6, [3, 2, 1]),
    "limit above the total": ([("ordering", 2, {"objects": 3}), ("syllogism", 1, {})], 50, [2, 1]),
}


@pytest.mark.parametrize("name", list(MIX_CASES))
def test_mix_counts_per_entry_and_fixed_knobs(name):
    entries, limit, expected = MIX_CASES[name]
    seed = 7
    rows = load_rows(mix(*entries, seed=seed), limit=limit)
    assert len(rows) == sum(expected)
    assert Counter(entry_of(r, seed) for r in rows) == {i: n for i, n in enumerate(expected) if n}
    for r in rows:
        family, _, difficulty = entries[entry_of(r, seed)]
        assert r["family"] == family and r["formulation"] and r["program"] and r["answer"]
        got = knobs(r)
        for knob, want in difficulty.items():
            if isinstance(want, list):
                assert want[0] <= got[knob] <= want[1], (knob, got)
            else:
                assert got[knob] == want, (knob, got)


def test_sub_range_knob_is_drawn_per_record():
    rows = load_rows(mix(("ordering", 12, {"objects": [4, 6]})))
    assert {knobs(r)["objects"] for r in rows} == {4, 5, 6}


def test_mix_is_reproducible_and_seeded():
    cfg = mix(("ordering", 3, {"objects": 3}), ("knights_knaves", 3, {}), seed=11)
    a, b = load_rows(cfg), load_rows(cfg)
    assert a == b
    other = load_rows({**cfg, "seed": 12})
    assert {r["question"] for r in other}.isdisjoint({r["question"] for r in a})
    # a limit keeps a prefix of every entry's records: the limited rows are a subset of the full ones
    limited = load_rows(cfg, limit=4)
    assert len(limited) == 4 and {r["question"] for r in limited} <= {r["question"] for r in a}


def test_mix_matches_the_synth_mix_builder():
    """Same records, ids and order as l2l.synth.mix.records_from_config (the other reader of the config)."""
    from l2l.synth.mix import records_from_config

    cfg = mix(("ordering", 2, {"objects": 4}), ("ordering", 2, {"objects": 4}), ("syllogism", 2, {}), seed=3)
    rows = load_rows(cfg)
    assert [(r["id"], r["question"]) for r in rows] == [(r.id, r.question) for r in records_from_config(cfg)]
    assert len({r["question"] for r in rows}) == 6  # two identical entries still give different puzzles


def test_mix_wins_over_families_merged_in_by_an_experiment():
    rows = load_rows({**mix(("temporal", 2, {})), "families": ["ordering"], "n": 5})
    assert [r["family"] for r in rows] == ["temporal", "temporal"]


@pytest.mark.parametrize(
    "difficulty, message",
    [
        ({"objects": [2, 5]}, "objects=[2, 5]"),  # below the family's 3..7
        ({"objects": [6, 5]}, "objects=[6, 5]"),  # empty range
        ({"extra_clues": [0, 1, 2]}, "extra_clues=[0, 1, 2]"),
        ({"colour": 3}, "unknown difficulty knob"),
        ({"colour": [1, 2]}, "colour=[1, 2]"),
    ],
)
def test_bad_mix_entries_are_input_errors(difficulty, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        load_rows(mix(("ordering", 1, difficulty)))


def test_data_synthetic_override_composes_with_the_smoke_experiment():
    """`python train.py +experiment=smoke data=synthetic`: the mix (not smoke's families) is loaded."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+experiment=smoke", "data=synthetic", "data.curriculum.enabled=true"])
    assert cfg.data.name == "synthetic" and len(cfg.data.mix) == 14 and cfg.data.curriculum.enabled
    rows = load_rows(cfg.data, limit=cfg.loop.limit, seed=int(cfg.seed), split=cfg.loop.split)
    assert len(rows) == cfg.loop.limit == 6
    assert not {r["family"] for r in rows} <= set(cfg.data.families)  # smoke's families were not used
    assert Curriculum.from_config(cfg.data).raise_at_accuracy == 0.7


# ---------------------------------------------------------------------------------------------- curriculum


def curriculum(*entries: tuple[str, dict], order=("objects",), at=0.5) -> Curriculum:
    return Curriculum([{"family": f, "n": 2, "difficulty": d} for f, d in entries], list(order), at)


@pytest.mark.parametrize(
    "accuracy, threshold, raised",
    [(0.69, 0.7, False), (0.7, 0.7, True), (0.95, 0.7, True), (0.0, 0.0, True), (0.0, 0.01, False)],
)
def test_level_rises_at_the_threshold_and_not_below(accuracy, threshold, raised):
    c = curriculum(("ordering", {"objects": 3}), at=threshold)
    assert c.update(accuracy) is raised
    assert c.level == int(raised)
    assert c.mix[0]["difficulty"]["objects"] == 3 + int(raised)


# per level, the difficulty of each entry: ordering, knights_knaves, syllogism, temporal (no listed knob)
ORDER_TABLE = [
    ({"objects": 3}, {"people": 3}, {"depth": 1, "distractors": 0}, {}),
    ({"objects": 3}, {"people": 4}, {"depth": 1, "distractors": 0}, {}),  # people first
    ({"objects": 4}, {"people": 4}, {"depth": 1, "distractors": 0}, {}),  # then objects
    ({"objects": 4}, {"people": 4}, {"depth": 2, "distractors": 0}, {}),  # then depth
    ({"objects": 4}, {"people": 5}, {"depth": 2, "distractors": 0}, {}),  # and round again
]


def test_knob_order_is_honoured_level_by_level():
    c = curriculum(
        ("ordering", {"objects": 3}), ("knights_knaves", {"people": 3}), ("syllogism", {"depth": 1, "distractors": 0}), ("temporal", {}),
        order=["people", "objects", "depth"],
    )
    for level, expected in enumerate(ORDER_TABLE):
        assert c.level == level
        assert [e["difficulty"] for e in c.mix] == list(expected), level
        assert c.update(1.0)


@pytest.mark.parametrize(
    "family, difficulty, order, levels",
    [
        # a fixed value is clamped at the family's maximum (ordering: objects 3..7)
        ("ordering", {"objects": 6}, ["objects"], [{"objects": 6}, {"objects": 7}]),
        # a sampled knob's floor rises until the range is one value (optimisation: items 2..4)
        ("optimisation", {}, ["items"], [{}, {"items": [3, 4]}, {"items": 4}]),
        # knobs the family lacks are skipped; categorical knobs are left alone
        ("rules_negation", {"world": "open"}, ["sightings", "depth"], [{"world": "open"}, {"world": "open", "depth": [1, 3]},
                                                                     {"world": "open", "depth": [2, 3]}, {"world": "open", "depth": 3}]),
    ],
)
def test_ranges_are_clamped_and_the_hardest_level_stops_the_climb(family, difficulty, order, levels):
    c = curriculum((family, difficulty), order=order)
    for level, expected in enumerate(levels):
        assert c.level == level and c.mix[0]["difficulty"] == expected
        assert c.at_max is (level == len(levels) - 1)
        assert c.update(1.0) is (level < len(levels) - 1)
    assert c.level == len(levels) - 1 and c.mix_at(c.level + 5) == c.mix
    load_rows({"seed": 0, "mix": c.mix_at(99)})  # the hardest mix is still generable (within range)


def test_state_round_trips_through_json():
    c = curriculum(("ordering", {"objects": 3}), ("knights_knaves", {}), order=["objects", "people"], at=0.6)
    assert c.update(0.65) and not c.update(0.1) and c.update(0.9)
    state = json.loads(json.dumps(c.state_dict()))  # what state.json holds
    fresh = curriculum(("ordering", {"objects": 3}), ("knights_knaves", {}), order=["objects", "people"], at=0.6)
    assert fresh.level == 0
    fresh.load_state_dict(state)
    assert (fresh.level, fresh.history, fresh.mix) == (2, [(1, 0.65), (2, 0.9)], c.mix)
    assert fresh.mix[1]["difficulty"] == {"people": [4, 6]}


@pytest.mark.parametrize(
    "data, error",
    [
        ({"mix": [{"family": "ordering", "n": 1}], "curriculum": {"enabled": False}}, None),
        ({"families": ["ordering"], "curriculum": {"enabled": True, "knob_order": ["objects"]}}, "needs a `mix`"),
        ({"mix": [{"family": "ordering", "n": 1}], "curriculum": {"enabled": True, "knob_order": ["objets"]}}, "objets"),
        ({"mix": [{"family": "ordering", "n": 1}], "curriculum": {"enabled": True, "knob_order": ["world"]}}, "world"),
    ],
)
def test_from_config(data, error):
    if error is None:
        assert Curriculum.from_config(data) is None
    else:
        with pytest.raises(InputError, match=error):
            Curriculum.from_config(data)


def test_train_rows_are_regenerated_at_the_level_and_keep_out_validation():
    data = mix(("ordering", 6, {"objects": 3}), ("syllogism", 6, {"depth": 2}), seed=5)
    rows = load_rows(data, limit=10)
    train0, val = split_rows(rows, 3, seed=0)
    c = Curriculum(data["mix"], ["objects"], 0.5)
    assert c.update(1.0)
    train1 = c.train_rows(data, limit=10, seed=0, val_size=3, val_rows=val)
    val_q = {r["question"] for r in val}
    assert train1 and not val_q & {r["question"] for r in train1}
    raised = [r for r in train1 if r["family"] == "ordering"]
    assert raised and all(knobs(r)["objects"] == 4 for r in raised)
    assert {r["question"] for r in raised}.isdisjoint(r["question"] for r in train0)
    # the unchanged syllogism entry regenerates the very same puzzles, minus the held-out ones
    same = {r["question"] for r in train1 if r["family"] == "syllogism"}
    assert same == {r["question"] for r in train0 if r["family"] == "syllogism"}


# ---------------------------------------------------------------------------------------------- the loop


@pytest.mark.slow
def test_training_loop_logs_and_checkpoints_the_curriculum_level(tiny_qwen2_dir, tmp_path):
    out = tmp_path / "curriculum"
    overrides = [
        "+experiment=smoke", "data=synthetic", f"out_dir={out}",
        f"model.name_or_path={tiny_qwen2_dir}", "model.build_tiny=false",
        "loop.phases=[generator]", "loop.validate_before=false",
        # accuracy 0.0 of the random model reaches a 0.0 threshold: the level rises deterministically
        "data.curriculum.enabled=true", "data.curriculum.raise_at_accuracy=0.0",
    ]
    p = subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    (r0,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert r0["round"] == 0 and "val/accuracy" in r0
    assert r0["curriculum/level"] == 0 and r0["curriculum/raised"] == 1 and r0["seconds"]["curriculum"] > 0
    state = json.loads((out / "checkpoints" / "round-0000" / "state.json").read_text())
    assert state["curriculum"]["level"] == 1

    # resume=true restores the level and the level-1 training rows; validation rows stay level 0
    from hydra import compose, initialize_config_dir

    from l2l.train.bilevel import BilevelRun

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, "resume=true", "loop.rounds=2"])
    run = BilevelRun(cfg)
    assert run.start_round == 1 and run.curriculum.level == 1
    rows = load_rows(cfg.data, limit=cfg.loop.limit, seed=int(cfg.seed), split=cfg.loop.split)
    train0, val0 = split_rows(rows, int(cfg.loop.val_size), seed=int(cfg.seed))
    assert run.val_rows == val0
    assert run.train_rows == run.curriculum.train_rows(cfg.data, cfg.loop.limit, int(cfg.seed), int(cfg.loop.val_size), val0)
    assert run.train_rows != train0
