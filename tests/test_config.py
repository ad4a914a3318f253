"""The hydra pipeline config and the SolveConfig dataclass must describe the same defaults."""

from pathlib import Path

import pytest
import yaml

from l2l.config import SolveConfig
from l2l.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_yaml_mirrors_solve_config():
    data = yaml.safe_load((ROOT / "conf/pipeline/default.yaml").read_text())
    assert data == SolveConfig().to_dict()


def test_every_pipeline_key_is_commented():
    lines = (ROOT / "conf/pipeline/default.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"uncommented key: {line}"


def test_unknown_override_is_a_clear_error():
    with pytest.raises(InputError, match="unknown setting.*samplez"):
        SolveConfig().update(samplez=3)
    assert SolveConfig().update(formulations=3).formulations == 3
