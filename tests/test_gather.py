"""Model calls from several threads decoded together (l2l/backends/gather.py). (~2 s)"""

from __future__ import annotations

import threading

import pytest

from l2l.backends.base import GenerationParams
from l2l.backends.gather import GatherCancelled, Gatherer
from l2l.backends.scripted import ScriptedBackend


class Recording(ScriptedBackend):
    """Replies with the last message's text and the seed; records how each call came in."""

    def __init__(self, **kw):
        super().__init__(lambda messages, params: f"{messages[-1]['content']} seed={params.seed} n={params.n}", **kw)
        self.entries: list[tuple[str, int]] = []  # ("chat" | "chat_batch", conversations)

    def chat(self, messages, params=None, **kw):
        self.entries.append(("chat", 1))
        return super().chat(messages, params, **kw)

    def chat_batch(self, conversations, params=None, *, seeds=None, **kw):
        self.entries.append(("chat_batch", len(conversations)))
        # the base class's chat_batch calls self.chat per conversation: record the batch only
        return [ScriptedBackend.chat(self, m, params, **({"seed": s} if seeds else {}), **kw)
                for m, s in zip(conversations, seeds or [None] * len(conversations))]


def user(text):
    return [{"role": "user", "content": text}]


def run_threads(targets):
    out, errors = {}, {}

    def wrap(name, fn):
        try:
            out[name] = fn()
        except BaseException as e:  # noqa: BLE001 -- the test inspects it
            errors[name] = e

    threads = [threading.Thread(target=wrap, args=(n, f)) for n, f in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a gathered call hung"
    return out, errors


def test_calls_with_the_same_settings_from_every_member_become_one_batch_each_with_its_own_seed():
    model = Recording()
    g = Gatherer(members=3, max_wait_s=60)
    view = g.view(model)
    out, errors = run_threads({
        i: (lambda i=i: view.chat(user(f"q{i}"), GenerationParams(max_tokens=8, seed=10 + i))[0].text) for i in range(3)})
    assert not errors
    assert out == {i: f"q{i} seed={10 + i} n=1" for i in range(3)}
    assert model.entries == [("chat_batch", 3)] and g.batches == [3]


def test_different_settings_go_in_separate_calls_and_a_lone_call_is_the_plain_call():
    model = Recording()
    g = Gatherer(members=3, max_wait_s=60)
    view = g.view(model)
    schema = {"type": "object"}
    out, errors = run_threads({
        "a": lambda: view.chat(user("a"), GenerationParams(seed=1, json_schema=schema))[0].text,
        "b": lambda: view.chat(user("b"), GenerationParams(seed=2, json_schema=schema))[0].text,
        "c": lambda: view.chat(user("c"), GenerationParams(seed=3, max_tokens=5))[0].text,
    })
    assert not errors and out == {"a": "a seed=1 n=1", "b": "b seed=2 n=1", "c": "c seed=3 n=1"}
    # the schema calls merged; the other one went alone, as `chat`, exactly as without a gatherer
    assert sorted(model.entries) == [("chat", 1), ("chat_batch", 2)]


def test_a_chat_batch_with_seeds_and_n_samples_keeps_its_seeds_inside_a_merged_call():
    model = Recording()
    g = Gatherer(members=2, max_wait_s=60)
    view = g.view(model)
    params = GenerationParams(seed=0, n=2, temperature=0.7)
    out, errors = run_threads({
        "batch": lambda: [[c.text for c in cs] for cs in view.chat_batch([user("x"), user("y")], params, seeds=[5, 9])],
        "one": lambda: [c.text for c in view.chat(user("z"), GenerationParams(seed=7, n=2, temperature=0.7))],
    })
    assert not errors
    assert out["batch"] == [["x seed=5 n=2"] * 2, ["y seed=9 n=2"] * 2]
    assert out["one"] == ["z seed=7 n=2"] * 2
    assert model.entries == [("chat_batch", 3)]


def test_a_member_that_leaves_stops_the_others_waiting_for_it():
    model = Recording()
    g = Gatherer(members=2, max_wait_s=3600)  # without leave() the call would wait an hour
    view = g.view(model)
    started = threading.Event()

    def caller():
        started.set()
        return view.chat(user("alone"), GenerationParams(seed=0))[0].text

    def leaver():
        started.wait(5)
        g.leave()

    out, errors = run_threads({"caller": caller, "leaver": leaver})
    assert not errors and out["caller"] == "alone seed=0 n=1"


def test_the_wait_limit_sends_the_waiting_calls_while_another_member_is_busy():
    model = Recording()
    g = Gatherer(members=2, max_wait_s=0.2)  # the other member never calls (e.g. its program is running)
    out, errors = run_threads({"caller": lambda: g.view(model).chat(user("q"), GenerationParams(seed=0))[0].text})
    assert not errors and out["caller"] == "q seed=0 n=1"


def test_a_failing_batch_raises_in_every_caller_it_held():
    class Broken(Recording):
        def chat_batch(self, conversations, params=None, *, seeds=None, **kw):
            raise RuntimeError("model died")

    g = Gatherer(members=2, max_wait_s=60)
    view = g.view(Broken())
    out, errors = run_threads({i: (lambda i=i: view.chat(user(str(i)), GenerationParams(seed=i))) for i in range(2)})
    assert not out and {type(e) for e in errors.values()} == {RuntimeError} and len(errors) == 2


def test_cancel_ends_waiting_calls_and_refuses_new_ones():
    g = Gatherer(members=2, max_wait_s=3600)
    view = g.view(Recording())
    waiting = threading.Event()

    def caller():
        waiting.set()
        return view.chat(user("q"), GenerationParams(seed=0))

    def canceller():
        waiting.wait(5)
        import time

        time.sleep(0.1)  # let the caller reach its wait
        g.cancel()

    out, errors = run_threads({"caller": caller, "canceller": canceller})
    assert isinstance(errors.get("caller"), GatherCancelled)
    with pytest.raises(GatherCancelled):
        view.chat(user("later"), GenerationParams(seed=0))


def test_the_view_reports_the_real_backends_capabilities():
    model = Recording()
    model.parallel_sequences = 4
    view = Gatherer(1).view(model)
    assert (view.name, view.supports_deadline, view.supports_json_schema, view.parallel_sequences) == ("scripted", True, False, 4)
    assert view.calls is model.calls  # anything else is the real backend's
