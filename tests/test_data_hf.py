"""The Hugging Face `datasets` loader, run for real on local files (the hub is unreachable here). (~5 s: importing datasets)"""

from __future__ import annotations

import json

import pytest

from l2l.data import load_dataset
from l2l.data.registry import DatasetSpec
from l2l.errors import InputError

ROWS = [
    {"uid": "r0", "premises": ["All cats purr.", "Tom is a cat."], "conclusion": "Does Tom purr?", "choices": ["yes", "no"], "label": 0},
    {"uid": "r1", "premises": ["No dogs purr.", "Rex is a dog."], "conclusion": "Does Rex purr?", "choices": ["yes", "no"], "label": 1},
    {"uid": "r2", "premises": ["Fish swim."], "conclusion": "Does Nemo swim?", "choices": ["yes", "no"], "label": 0},
]
MAPPING = {"id": "uid", "question": "conclusion", "context": "premises", "options": "choices", "answer": "label"}


@pytest.fixture()
def local_file(tmp_path):
    path = tmp_path / "mini.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def test_hf_loader_maps_columns_letters_choices_and_reads_index_answers(local_file):
    exs = load_dataset(f"hf:{local_file}", "train", columns=MAPPING)
    assert [e.id for e in exs] == ["r0", "r1", "r2"]
    assert exs[0].options == ["A) yes", "B) no"]  # unlettered choices get letters
    assert [e.answer for e in exs] == ["A", "B", "A"]  # integer labels index the options
    assert exs[1].question.startswith("No dogs purr.\nRex is a dog.") and exs[1].question.endswith("Does Rex purr?")


def test_hf_loader_reads_a_local_dataset_folder_like_a_hub_repo(tmp_path):
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "test.jsonl").write_text(
        "\n".join(json.dumps({"input": f"{i} + 1 = ?", "target": str(i + 1)}) for i in range(4)) + "\n"
    )
    # No mapping: the common column names (input/target) are found by alias.
    exs = load_dataset(f"hf:{folder}", "test[1:3]")
    assert [e.question for e in exs] == ["1 + 1 = ?", "2 + 1 = ?"] and [e.answer for e in exs] == ["2", "3"]


def test_hf_spec_from_a_registry_config(local_file):
    spec = DatasetSpec.from_dict("mini", {"format": "hf", "hub_id": str(local_file), "columns": MAPPING, "split": "train"})
    assert [e.answer for e in spec.load(None)] == ["A", "B", "A"] and spec.load(None)[0].dataset == "mini"


def test_hf_loader_errors_are_one_clear_line(local_file):
    with pytest.raises(InputError, match="column 'nope'"):
        load_dataset(f"hf:{local_file}", "train", columns={**MAPPING, "question": "nope"})
    with pytest.raises(InputError, match="no column for 'question'"):
        load_dataset(f"hf:{local_file}", "train", columns={"answer": "label"})
    folder = local_file.parent / "repo"
    folder.mkdir()
    (folder / "train.jsonl").write_text(local_file.read_text())
    with pytest.raises(InputError, match="could not load hf dataset"):
        load_dataset(f"hf:{folder}", "validation", columns=MAPPING)  # a split the dataset does not have
