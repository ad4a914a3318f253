"""Registry contents and `load_model` / `resolve` dispatch (no model weights are loaded here)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from l2l.backends.base import BackendError
from l2l.config import DEFAULT_MODEL
from l2l.errors import InputError, ModelNotAvailable
from l2l.models import MODELS, ModelSpec, load_model, resolve

ROOT = Path(__file__).resolve().parents[1]


def test_registry_names_default_and_specs():
    assert set(MODELS) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"}
    assert DEFAULT_MODEL == "qwen2.5-coder-1.5b"
    big, small = MODELS["qwen2.5-coder-1.5b"], MODELS["qwen2.5-coder-0.5b"]
    assert isinstance(big, ModelSpec) and big.backend == small.backend == "llamacpp"
    assert (big.size, big.sha256[:8], len(big.packages)) == (1_117_320_768, "cc324af0", 22)
    assert (small.size, small.sha256[:8], len(small.packages)) == (491_400_064, "1d961463", 6)


def test_pyproject_extras_match_registry():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for spec in MODELS.values():
        pinned = [req.split("==")[0] for req in extras[spec.extra]]
        assert pinned == list(spec.distributions), spec.name


@pytest.mark.parametrize(
    "name, backend, kwargs",
    [
        ("openai:gpt-4o-mini", "openai", {"model": "gpt-4o-mini"}),
        ("vllm:Qwen/Qwen2.5-Coder-7B-Instruct", "vllm", {"model": "Qwen/Qwen2.5-Coder-7B-Instruct"}),
        ("hf:Qwen/Qwen2.5-Coder-7B-Instruct", "hf", {"model": "Qwen/Qwen2.5-Coder-7B-Instruct"}),
        ("Qwen/Qwen2.5-Coder-7B-Instruct", "hf", {"model": "Qwen/Qwen2.5-Coder-7B-Instruct"}),
    ],
)
def test_resolve_prefixes_and_hub_ids(name, backend, kwargs):
    r = resolve(name)
    assert (r.backend, r.kwargs) == (backend, kwargs)


def test_resolve_registry_names():
    for name in MODELS:
        r = resolve(name)
        assert (r.backend, r.registry_name) == ("llamacpp", name)
    assert resolve("llamacpp:qwen2.5-coder-0.5b").registry_name == "qwen2.5-coder-0.5b"


def test_resolve_local_paths(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)).kwargs == {"model_path": str(gguf)}
    assert resolve(f"hf:{gguf}").kwargs == {"model": str(tmp_path), "gguf_file": "m.gguf"}
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    assert (resolve(str(ckpt)).backend, resolve(str(ckpt)).kwargs) == ("hf", {"model": str(ckpt)})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert resolve(str(adapter)).backend == "hf"


@pytest.mark.parametrize("bad", ["./nope.gguf", "/no/such/dir", "no-such-model", "llamacpp:/no/x.gguf", "hf:./missing"])
def test_resolve_missing_things_raise_model_not_available(bad):
    with pytest.raises(ModelNotAvailable):
        resolve(bad)


def test_resolve_rejects_empty_and_odd_inputs(tmp_path):
    for bad in ["", "   ", "openai:", "hf: "]:
        with pytest.raises(InputError):
            resolve(bad)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelNotAvailable, match="not a .gguf"):
        resolve(str(tmp_path / "notes.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailable, match="config.json"):
        resolve(str(tmp_path / "empty"))


def test_unknown_model_message_lists_choices():
    with pytest.raises(ModelNotAvailable) as e:
        load_model("gpt-5-turbo-ultra")
    assert "qwen2.5-coder-1.5b" in str(e.value) and "openai:<model>" in str(e.value)


def test_openai_clients_are_per_instance(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("L2L_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    a = load_model("openai:m1")
    b = load_model("openai:m2", base_url="http://127.0.0.1:10/v1", api_key="k2", n_ctx=4096)  # n_ctx: llamacpp's, ignored
    assert a.name == b.name == "openai"
    assert str(a.client.base_url).startswith("http://127.0.0.1:9/") and a.model == "m1"
    assert str(b.client.base_url).startswith("http://127.0.0.1:10/") and b.client.api_key == "k2"
    assert a.client is not b.client


def test_openai_without_key_or_url_is_a_clear_error(monkeypatch):
    for var in ("L2L_OPENAI_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        load_model("openai:gpt-4o-mini")


def test_unknown_override_is_rejected():
    with pytest.raises(InputError, match="n_ctxx"):
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", n_ctxx=1)


def test_vllm_is_import_guarded():
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match="pip install 'l2l\\[vllm\\]'"):
            load_model("vllm:Qwen/Qwen2.5-Coder-7B-Instruct")
    else:  # pragma: no cover  (a GPU machine: the guard is not reachable, the class must still exist)
        from l2l.backends.vllm import VLLMBackend

        assert VLLMBackend.supports_json_schema


def test_hub_id_goes_through_transformers_and_fails_clearly_offline(tmp_path):
    """Real from_pretrained code on a hub id; offline it must end in a one-line ModelNotAvailable.
    HF_HUB_OFFLINE makes the hub client fail at once instead of retrying for a minute."""
    code = (
        "from l2l.models import load_model\n"
        "from l2l.errors import ModelNotAvailable\n"
        "try:\n    load_model('Qwen/Qwen2.5-Coder-7B-Instruct', progress=False)\n"
        "except ModelNotAvailable as e:\n    print('MNA', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("MNA could not load 'Qwen/Qwen2.5-Coder-7B-Instruct'"), out.stdout
    assert "local directory" in out.stdout
