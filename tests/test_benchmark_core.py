"""The benchmark core without training: challenge classes, bootstrap, pool, elicitation,
registry, the baselines' training pairs and the spec, against hand-computed numbers.

The score formulas themselves are checked in ``test_benchmark_logic.py``; here they are reached
through the plug-in classes (which steps are evaluated, which century each step targets).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from progalign.benchmark import registry
from progalign.benchmark.algorithms import (
    RLHF_DEVIATION,
    ExtrapolativeDPO,
    ExtrapolativeRLHF,
    LifelongDPO,
    LifelongRLHF,
)
from progalign.benchmark.bootstrap import _themes, item_data, score_interval, vector_from
from progalign.benchmark.challenges import Coevolve, Follow, Predict
from progalign.benchmark.elicitation import build_queries
from progalign.benchmark.pool import ALL_TYPES, PoolItem, build_pool
from progalign.benchmark.preferences import (
    ElicitSettings,
    Preference,
    elicit,
    load_preferences,
    save_preferences,
    summary,
)
from progalign.benchmark.protocol import Challenge, Examinee, Feedback, ScoreInput
from progalign.benchmark.spec import spec_from_config
from progalign.errors import InputError, ProgalignError
from progalign.evaluation.templates import QuestionTemplate, Templates
from progalign.evaluation.vector import value_vector
from progalign.questionnaire.items import RULES, Item
from progalign.settings import STAGES
from scripted import ScriptedBackend

EXAMPLE_SRC = Path(__file__).resolve().parents[1] / "examples/progalign-example-plugin/src"

# ------------------------------------------------------------------ challenges (via classes)
# Unit vectors whose dot products are exact decimals: cos = plain dot product.
A = [np.array(v) for v in ((1.0, 0, 0), (0.6, 0.8, 0), (0, 1.0, 0), (0, 0.6, 0.8))]


def _same_steps(got: dict[int, tuple[int, float]], expected: dict[int, tuple[int, float]]) -> bool:
    """Equal step -> (target, similarity) maps, similarities to 1e-12."""
    return got.keys() == expected.keys() and all(
        got[t][0] == expected[t][0] and math.isclose(got[t][1], expected[t][1], abs_tol=1e-12)
        for t in got
    )


def test_follow_scores_each_step_against_its_own_century() -> None:
    e = {1: np.array([0, 1.0, 0]), 2: np.array([0.6, 0.8, 0]), 3: np.array([0, 1.6, 1.2])}
    scored = Follow().score(ScoreInput(actual=A, examinee=e))
    # cos(e1, a1) = 0.8, cos(e2, a2) = 0.8, cos(e3, a3) = (0.96 + 0.96) / 2 = 0.96 (|e3| = 2)
    assert _same_steps(scored.steps, {1: (1, 0.8), 2: (2, 0.8), 3: (3, 0.96)})
    assert scored.score == pytest.approx((0.8 + 0.8 + 0.96) / 3)
    assert Follow().evaluated_steps(4) == [1, 2, 3]
    assert Follow().describe()["version"] == "pg-follow/mean-cosine/1"


@pytest.mark.parametrize(
    ("k", "n", "steps"), [(1, 4, [1, 2]), (2, 4, [1]), (1, 3, [1]), (2, 9, [1, 2, 3, 4, 5, 6])]
)
def test_predict_evaluates_only_steps_with_a_target(k: int, n: int, steps: list[int]) -> None:
    assert Predict(timesteps_ahead=k).evaluated_steps(n) == steps


def test_predict_scores_against_the_century_k_ahead() -> None:
    e = {1: np.array([0, 1.0, 0]), 2: np.array([0.6, 0.8, 0]), 3: np.array([1.0, 0, 0])}
    scored = Predict(timesteps_ahead=1).score(ScoreInput(actual=A, examinee=e))
    # cos(e1, a2) = 1, cos(e2, a3) = 0.48; e3 has no a4 and is ignored
    assert _same_steps(scored.steps, {1: (2, 1.0), 2: (3, 0.48)})
    assert scored.score == pytest.approx(0.74)
    two = Predict(timesteps_ahead="2")  # parameters may arrive as strings
    assert _same_steps(two.score(ScoreInput(actual=A, examinee=e)).steps, {1: (3, 0.6)})
    assert two.describe()["timesteps_ahead"] == 2


def test_predict_rejects_impossible_horizons() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        Predict(timesteps_ahead=0)
    with pytest.raises(ValueError, match="needs at least 5 centuries, the timeline has 3"):
        Predict(timesteps_ahead=3).evaluated_steps(3)
    # k = 2 on three centuries: no step t >= 1 has a century t + 2 (was [] and a late crash)
    with pytest.raises(ValueError, match="timesteps_ahead=2 needs at least 4 centuries"):
        Predict(timesteps_ahead=2).evaluated_steps(3)


def test_coevolve_includes_the_initial_simulated_state() -> None:
    s = [A[0], np.array([0, 1.0, 0]), np.array([0, 0.6, 0.8])]
    scored = Coevolve().score(ScoreInput(actual=A, simulated=s))
    # s0: cos to a0..a3 = [1, .6, 0, 0]   -> suffix max [1, .6, 0, 0]   sum 1.6
    # s1: cos = [0, .8, 1, .6]           -> suffix max [1, 1, 1, .6]   sum 3.6
    # s2: cos = [0, .48, .6, 1]          -> suffix max [1, 1, 1, 1]    sum 4
    assert scored.score == pytest.approx((1.6 + 3.6 + 4) / 12)
    assert scored.score != pytest.approx((3.6 + 4) / 8)  # without s0
    assert _same_steps(scored.steps, {1: (1, 0.8), 2: (2, 0.6)})
    assert Coevolve.feedback == "simulated" and Follow.feedback == Predict.feedback == "history"
    assert Coevolve().evaluated_steps(4) == [1, 2, 3]
    with pytest.raises(ValueError, match="no simulated states"):
        Coevolve().score(ScoreInput(actual=A))


# ------------------------------------------------------------------ bootstrap over items
def _labels(plus: int | None, minus: int | None) -> dict[str, tuple[str, ...]]:
    """Rule labels with τ = +1 at ``plus`` and -1 at ``minus``, 0 elsewhere."""
    a1, a2 = ["No Agreement"] * len(RULES), ["No Agreement"] * len(RULES)
    if plus is not None:
        a1[plus], a2[plus] = "No", "Yes"
    if minus is not None:
        a1[minus], a2[minus] = "Yes", "No"
    return {"a1": tuple(a1), "a2": tuple(a2)}


ITEMS = [
    Item("mc1", "moralchoice", "c", ("x", "y"), labels=_labels(0, None)),
    Item("mc2", "moralchoice", "c", ("x", "y"), labels=_labels(1, 0)),
    Item("mc3", "moralchoice", "c", ("x", "y"), labels=_labels(2, None)),
    Item("f1", "foundation", "c", ("x", "y"), theme="Harm_Care"),
    Item("f2", "foundation", "c", ("x", "y"), theme="Harm_Care"),
    Item("f3", "foundation", "c", ("x", "y"), theme="Fairness_Reciprocity"),
    Item("v1", "views", "c", ("a", "b", "c", "d"), theme="t"),
    Item("v2", "views", "c", ("a", "b", "c", "d"), theme="t"),
]
P: list[list[float] | None] = [
    [0.8, 0.2],
    [0.3, 0.7],
    [0.6, 0.4],
    [0.9, 0.1],
    None,
    [0.4, 0.6],
    [0.1, 0.2, 0.3, 0.4],
    [0.4, 0.3, 0.2, 0.1],
]


def _result(probabilities: list[list[float] | None], items: list[Item] = ITEMS) -> dict[str, Any]:
    """The part of a ``progalign values`` result the bootstrap reads (items in file order)."""
    return {
        "items": [
            {"item_id": it.item_id, "p": p} for it, p in zip(items, probabilities, strict=True)
        ][::-1]
    }


def _identity(items: list[Item]) -> dict[str, np.ndarray]:
    return {
        g: np.arange(sum(it.group == g for it in items))
        for g in ("moralchoice", "foundation", "views")
    }


@pytest.mark.parametrize("aggregation", ["progressgym-2024", "mean"])
def test_vector_from_identity_picks_is_the_engine_vector(aggregation: Any) -> None:
    data = item_data(ITEMS, _result(P))
    got = vector_from(data, _identity(ITEMS), aggregation, _themes(ITEMS))
    engine = value_vector(
        ITEMS, [None if p is None else np.array(p) for p in P], aggregation, bootstrap=0
    ).vector
    np.testing.assert_allclose(got, engine, rtol=0, atol=1e-15)
    if aggregation == "progressgym-2024":  # by hand: group sums / (valid items + 1)
        expected = {
            0: (0.8 - 0.3) / 4,
            1: 0.3 / 4,
            2: 0.6 / 4,
            10: 0.9 / 3,
            11: 0.4 / 3,
            15: 0.5 / 3,
            18: 0.5 / 3,
        }
    else:  # foundations by valid items per theme (f2 is invalid), views a plain mean
        expected = {0: 0.5 / 3, 10: 0.9, 11: 0.4, 12: 0.0, 15: 0.25}
    for dim, value in expected.items():
        assert got[dim] == pytest.approx(value)


def test_vector_from_applies_resampled_picks() -> None:
    data = item_data(ITEMS, _result(P))
    picks = {
        "moralchoice": np.array([0, 0, 0]),
        "foundation": np.array([2, 2, 1]),
        "views": np.array([1, 1]),
    }
    got = vector_from(data, picks, "progressgym-2024", _themes(ITEMS))
    assert got[0] == pytest.approx(3 * 0.8 / 4) and got[1] == 0.0
    # foundation picks f3, f3 and the invalid f2: two valid rows
    assert got[10] == 0.0 and got[11] == pytest.approx(2 * 0.4 / 3)
    assert got[15] == pytest.approx(2 * 0.4 / 3)


def test_item_data_rejects_a_result_on_other_items() -> None:
    with pytest.raises(ValueError, match="lacks items"):
        item_data(ITEMS, _result(P[:-1], ITEMS[:-1]))


def _models(seed: int) -> dict[str, list[list[float] | None]]:
    """Per-item probabilities of three historical models and two examinee states."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[list[float] | None]] = {}
    for name in ("a0", "a1", "a2", "e1", "e2"):
        probs: list[list[float] | None] = []
        for it in ITEMS:
            w = rng.uniform(0.2, 1.0, size=len(it.actions))
            probs.append((w / w.sum()).tolist())
        out[name] = probs
    return out


def _follow(vectors: Any) -> float:
    actual = [vectors[f"a{i}"] for i in range(3)]
    return Follow().score(ScoreInput(actual, {1: vectors["e1"], 2: vectors["e2"]})).score


def test_score_interval_brackets_the_score_and_is_seeded() -> None:
    data = {k: item_data(ITEMS, _result(v)) for k, v in _models(3).items()}
    point = _follow(
        {
            k: vector_from(d, _identity(ITEMS), "progressgym-2024", _themes(ITEMS))
            for k, d in data.items()
        }
    )
    low, high, used = score_interval(ITEMS, data, _follow, samples=300, seed=7)
    assert used == 300 and -1 <= low <= point <= high <= 1 and low < high
    assert score_interval(ITEMS, data, _follow, samples=300, seed=7) == (low, high, used)
    assert score_interval(ITEMS, data, _follow, samples=300, seed=8) != (low, high, used)


def test_score_interval_skips_undefined_resamples() -> None:
    # only MoralChoice items, one of which carries no rule (τ = 0): a resample of that item
    # twice gives an all-zero vector, whose cosine is undefined: skipped, not NaN
    items = [
        Item("m1", "moralchoice", "c", ("x", "y"), labels=_labels(0, None)),
        Item("m0", "moralchoice", "c", ("x", "y"), labels=_labels(None, None)),
    ]
    data = {f"a{i}": item_data(items, _result([[0.5, 0.5], [0.5, 0.5]], items)) for i in range(3)}
    data |= {"e1": data["a1"], "e2": data["a2"]}
    low, high, used = score_interval(items, data, _follow, samples=200, seed=0)
    assert 100 < used < 200  # about 1 in 4 resamples is (m0, m0)
    assert (low, high) == pytest.approx((1.0, 1.0))
    none = {k: item_data(items[1:], _result([[0.5, 0.5]], items[1:])) for k in data}
    low, high, used = score_interval(items[1:], none, _follow, samples=20, seed=0)
    assert used == 0 and math.isnan(low) and math.isnan(high)


# ------------------------------------------------- pool (docs/semantics.md#comparison-pool)
def _templates() -> Templates:
    two, four = "{}\nA. {}\nB. {}", "{}\nA. {}\nB. {}\nC. {}\nD. {}"
    return Templates(
        {q: QuestionTemplate(q, f"header {q}", four if "fav" in q else two, {}) for q in ALL_TYPES},
        (),
    )


def _two(i: int, a: str = "help", b: str = "leave") -> Item:
    return Item(f"i{i}", "moralchoice", f"context {i}", (a, b), labels=_labels(0, None))


def test_pool_options_per_question_type() -> None:
    four = Item("v", "views", "ctx", ("t1", "t2", "t3", "t4"), theme="t")
    pool = build_pool([_two(0), four], _templates(), max_items=None)
    assert [(p.key, p.options) for p in pool] == [
        ("i0|ab", ("A", "B")),
        ("i0|compare", ("yes", "no")),
        ("i0|repeat", ("help", "leave")),
        ("v|4c_fav", ("A", "B")),
        ("v|repeat2_fav", ("t1", "t2")),
    ]
    rep = pool[2]
    assert rep.instruction == "header repeat" and rep.input == "context 0\nA. help\nB. leave"
    assert rep.prompt == "header repeat\n\ncontext 0\nA. help\nB. leave"
    assert rep.question == "header repeat\ncontext 0\nA. help\nB. leave"


def test_pool_type_filter_and_identical_options() -> None:
    items = [_two(0), _two(1, "same", "same")]
    pool = build_pool(items, _templates(), question_types_kept=("repeat", "repeat2_fav"))
    assert [p.key for p in pool] == ["i0|repeat"]  # identical texts cannot be compared
    with pytest.raises(ValueError, match="unknown question types"):
        build_pool(items, _templates(), question_types_kept=("repeat", "essay"))


def test_pool_truncation_is_a_seeded_bernoulli_keep() -> None:
    items = [_two(i, f"a{i}", f"b{i}") for i in range(1000)]
    full = build_pool(items, _templates(), max_items=None)
    kept = build_pool(items, _templates(), max_items=600, seed=42)
    assert len(full) == 3000
    rng = random.Random(42)  # keep with probability 600 / 3000, in pool order
    assert kept == [p for p in full if rng.random() < 0.2]
    assert abs(len(kept) - 600) < 4 * math.sqrt(3000 * 0.2 * 0.8)
    assert kept == build_pool(items, _templates(), max_items=600, seed=42)
    assert kept != build_pool(items, _templates(), max_items=600, seed=43)
    assert build_pool(items[:10], _templates(), max_items=600) == full[:30]  # N <= max: all


# ---------------------------------- elicitation (docs/semantics.md#preference-elicitation)
def _letters_pool(n: int = 12) -> list[PoolItem]:
    return [
        PoolItem(f"k{i}|ab", "Pick one.", f"Situation {i}\nA. go\nB. stay", ("A", "B"))
        for i in range(n)
    ]


def test_elicit_texts_scores_the_options_by_content() -> None:
    pool = [
        PoolItem("k0|repeat", "h", "q0", ("help the stranger", "walk away")),
        PoolItem("k1|repeat", "h", "q1", ("walk away", "help the stranger")),
        PoolItem("k2|repeat", "h", "q2", ("shrug", "sigh")),
    ]
    backend = ScriptedBackend({"help the stranger": 0.75, "walk away": 0.25})
    prefs = elicit(backend, pool, ElicitSettings(mode="texts"))
    assert [p.chosen for p in prefs] == [0, 1, None]  # equal likelihoods: undecided
    assert prefs[0].margin == pytest.approx(math.log(3))
    assert prefs[1].margin == pytest.approx(-math.log(3))
    assert [p.pair for p in prefs] == [("help the stranger", "walk away")] * 2 + [None]
    assert backend.requests[0].continuations == ("help the stranger", "walk away")
    assert "Response 1" not in backend.requests[0].context  # the question itself, no judge
    assert summary(prefs) == {"items": 3, "decided": 2, "first_option_chosen": 1}


def test_elicit_logprob_credits_the_content_shown_first() -> None:
    pool = _letters_pool()
    backend = ScriptedBackend({"Response 1": 0.9, "Response 2": 0.1})  # pure position bias
    prefs = elicit(backend, pool, ElicitSettings(mode="logprob"))
    shown = build_queries([(p.key, p.question, p.options) for p in pool], seed=42)
    assert {q.responses for q in shown} == {("A", "B"), ("B", "A")}
    assert [p.chosen for p in prefs] == [
        p.options.index(q.responses[0]) for p, q in zip(pool, shown, strict=True)
    ]
    assert all(p.margin == pytest.approx(math.log(9)) for p in prefs)
    assert backend.requests[0].continuations == ("Response 1", "Response 2")
    assert 'Response 1: """' in backend.requests[0].context


def test_elicit_generate_maps_a_bare_letter_to_its_content() -> None:
    pool = _letters_pool()
    shown = build_queries([(p.key, p.question, p.options) for p in pool], seed=42)
    swapped = [i for i, q in enumerate(shown) if q.responses == ("B", "A")]
    assert swapped and len(swapped) < len(pool)  # some queries show "B" as Response 1
    prompts: list[str] = []

    def answer_b(prompt: str) -> str:
        prompts.append(prompt)
        return "B"

    prefs = elicit(ScriptedBackend(answer=answer_b), pool, ElicitSettings(mode="generate"))
    # "B" means the content "B" (index 1) whether it was shown as Response 1 or 2; upstream
    # read it as Response 2 and so credited "A" on every swapped query
    assert [p.chosen for p in prefs] == [1] * len(pool)
    assert all(p.pair == ("B", "A") and p.answer == "B" and p.margin is None for p in prefs)
    assert 'Response 1: """B"""' in prompts[swapped[0]]
    first = elicit(
        ScriptedBackend(answer=lambda _: "Response 1"), pool, ElicitSettings(mode="generate")
    )
    assert [p.chosen for p in first] == [1 if i in swapped else 0 for i in range(len(pool))]
    unsure = elicit(
        ScriptedBackend(answer=lambda _: "Both are fine, 1 or 2."),
        pool,
        ElicitSettings(mode="generate"),
    )
    assert all(p.chosen is None and p.pair is None for p in unsure)


def test_elicit_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown elicitation mode"):
        elicit(ScriptedBackend(), _letters_pool(1), ElicitSettings(mode="vote"))  # type: ignore[arg-type]


def test_preferences_roundtrip_and_bad_lines(tmp_path: Path) -> None:
    prefs = [
        Preference("k0", "p0", ("A", "B"), 1, -0.5, None),
        Preference("k1", "p1", ("yes", "no"), None, 0.0, "hmm"),
        Preference("k2", 'p2\nwith "quotes"', ("x", "y"), 0, None, "x"),
    ]
    path = tmp_path / "prefs.jsonl"
    save_preferences(path, prefs)
    assert load_preferences(path) == prefs
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1]) | {"chosen": 2}
    path.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    with pytest.raises(InputError, match=r"prefs\.jsonl, row 2: bad preference record"):
        load_preferences(path)
    path.write_text(lines[0] + "\n" + json.dumps({"key": "k", "prompt": "p"}) + "\n")
    with pytest.raises(InputError, match=r"row 2.*options"):
        load_preferences(path)
    path.write_text(lines[0] + "\n" + lines[1] + "\n{not json\n")
    with pytest.raises(InputError, match="row 3: invalid JSON"):
        load_preferences(path)


# ------------------------------------------------------------------ registry
@pytest.fixture()
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations and plug-in loading inside a test do not leak into other tests."""
    registry._load_builtins()
    monkeypatch.setattr(registry, "_ALGORITHMS", dict(registry._ALGORITHMS))
    monkeypatch.setattr(registry, "_CHALLENGES", dict(registry._CHALLENGES))
    monkeypatch.setitem(registry._loaded, "plugins", False)


@pytest.mark.usefixtures("clean_registry")
def test_registry_finds_builtins_by_name_and_path() -> None:
    assert registry.get_algorithm("LifelongDPO") is LifelongDPO
    assert registry.get_algorithm("ExtrapolativeRLHF") is ExtrapolativeRLHF
    assert registry.get_challenge("follow") is Follow
    assert registry.get_challenge("coevolve") is Coevolve
    assert registry.get_algorithm("progalign.benchmark.algorithms:LifelongRLHF") is LifelongRLHF
    assert registry.get_challenge("progalign.benchmark.challenges:Predict") is Predict
    names = registry.available()
    assert set(names["algorithms"]) >= {
        "LifelongDPO",
        "LifelongRLHF",
        "ExtrapolativeDPO",
        "ExtrapolativeRLHF",
    }
    assert names["challenges"]["predict"] == "progalign.benchmark.challenges:Predict"


@pytest.mark.usefixtures("clean_registry")
def test_registry_errors_name_the_culprit() -> None:
    with pytest.raises(
        ProgalignError,
        match=r"unknown algorithm 'LifeLongDPO'; available: "
        r"(\S+, )*ExtrapolativeDPO, ExtrapolativeRLHF, "
        r"LifelongDPO, LifelongRLHF",
    ):
        registry.get_algorithm("LifeLongDPO")
    with pytest.raises(ProgalignError, match=r"unknown challenge 'folow'.*coevolve, follow"):
        registry.get_challenge("folow")
    with pytest.raises(ProgalignError, match=r"cannot import 'no_such_pkg\.mod:X'"):
        registry.get_algorithm("no_such_pkg.mod:X")
    with pytest.raises(ProgalignError, match=r"cannot import '\S+algorithms:Nope'.*no attribute"):
        registry.get_algorithm("progalign.benchmark.algorithms:Nope")
    with pytest.raises(ProgalignError, match="is not a Examinee subclass"):
        registry.get_algorithm("progalign.benchmark.challenges:Follow")
    with pytest.raises(ProgalignError, match="is not a Challenge subclass"):
        registry.get_challenge("pathlib:Path")


@pytest.mark.usefixtures("clean_registry")
def test_decorators_register_and_reject_non_subclasses() -> None:
    @registry.algorithm("Keep")
    class Keep(Examinee):
        def update(self, state: Any, model: Path, feedback: Feedback, out: Path, ctx: Any) -> Any:
            return state

    assert registry.get_algorithm("Keep") is Keep and Keep.name == "Keep"
    assert Keep(x=1).describe() == {
        "name": "Keep",
        "params": {"x": 1},
        "class": f"{__name__}:{Keep.__qualname__}",
    }
    with pytest.raises(TypeError, match=r"@algorithm\('Bad'\) needs an Examinee subclass"):
        registry.algorithm("Bad")(Follow)  # type: ignore[type-var]
    with pytest.raises(TypeError, match=r"@challenge\('bad'\) needs a Challenge subclass"):
        registry.challenge("bad")(Keep)  # type: ignore[type-var]
    with pytest.raises(TypeError):
        registry.challenge("bad")(lambda: None)  # type: ignore[type-var]
    assert "Bad" not in registry.available()["algorithms"]


PLUGIN_MODULE = """
from progalign.benchmark.protocol import Challenge, Scored
from progalign.benchmark.registry import challenge


@challenge("constant")
class Constant(Challenge):
    version = "test/constant/1"

    def score(self, data):
        return Scored(0.5, {})
"""


@pytest.mark.usefixtures("clean_registry")
def test_entry_points_are_loaded_lazily_and_broken_ones_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pa_test_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pa_test_plugin", raising=False)
    group = registry.ENTRY_POINT_GROUP
    eps = [
        importlib.metadata.EntryPoint("broken", "pa_no_such_module:X", group),
        importlib.metadata.EntryPoint("constant", "pa_test_plugin:Constant", group),
    ]
    monkeypatch.setattr(
        registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else []
    )
    assert registry.get_challenge("follow") is Follow  # a built-in: no plug-in imported yet
    assert "pa_test_plugin" not in sys.modules
    with caplog.at_level(logging.WARNING, logger="progalign.benchmark.registry"):
        judge = registry.get_challenge("constant")
    assert judge.__module__ == "pa_test_plugin" and judge.name == "constant"
    assert "plug-in broken (pa_no_such_module:X) failed to load" in caplog.text
    assert registry.available()["challenges"]["constant"] == "pa_test_plugin:Constant"
    assert registry.load_plugins() == []  # once per process


@pytest.mark.usefixtures("clean_registry")
def test_example_plugin_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    from progalign_example.chosen_sft import ChosenSFT, chosen_records
    from progalign_example.follow_last import FollowLast

    assert registry.get_algorithm("ChosenSFT") is ChosenSFT
    assert registry.get_challenge("follow-last") is FollowLast
    prefs = [
        Preference("a", "pa", ("x", "y"), 1, -2.0),
        Preference("b", "pb", ("x", "y"), None),
        Preference("c", "pc", ("x", "y"), 0, 0.1),
        Preference("d", "pd", ("x", "y"), 0),
    ]
    assert chosen_records(prefs) == (
        [("pa", "y"), ("pc", "x"), ("pd", "x")],
        {"decided": 3, "undecided": 1, "low_margin": 0, "records": 3},
    )
    records, counts = chosen_records(prefs, min_margin=0.5)
    assert records == [("pa", "y"), ("pd", "x")] and counts["low_margin"] == 1
    e = {1: np.array([1.0, 0, 0]), 2: np.array([0, 0, 1.0])}
    scored = FollowLast().score(ScoreInput(actual=A[:3], examinee=e))
    assert (scored.score, scored.steps) == (0.0, {2: (2, 0.0)})  # only the last step counts
    scored = FollowLast().score(ScoreInput(actual=A, examinee={**e, 3: A[3] * 2}))
    assert scored.score == pytest.approx(1.0)
    assert ChosenSFT(chosen_sft_stage="sft_influence").describe()["stage"] == "sft_influence"
    assert issubclass(FollowLast, Challenge) and FollowLast.feedback == "history"


# ------------------------------------------------------------------ baselines' training pairs
X, Y = ("x", "y"), ("y", "x")
# per step: key -> chosen option index (None: undecided) over options ("x", "y")
HISTORY: list[dict[str, int | None]] = [
    {"k1": 0, "k2": 0, "k3": 0, "k4": None, "k5": 0},
    {"k1": 0, "k2": 1, "k3": None, "k4": 0, "k5": 0},
    {"k1": 1, "k2": 1, "k3": 0, "k4": 0, "k5": None},
]


def _feedback(step: int) -> Feedback:
    return Feedback(
        step,
        f"C0{14 + step}",
        [Preference(k, f"prompt {k}", X, c) for k, c in HISTORY[step - 1].items()],
    )


def _run_pairs(
    algo: Any, steps: int
) -> tuple[dict[str, tuple[tuple[str, str], int]], dict[str, Any], dict[str, Any]]:
    state = algo.initial_state()
    for t in range(1, steps + 1):
        pairs, state, info = algo.pairs(state, _feedback(t))
        state = json.loads(json.dumps(state))  # as the next step reads it from state.json
    got = {p.prompt.split()[-1]: ((p.chosen, p.rejected), p.weight) for p in pairs}
    return got, state, info


def test_lifelong_pairs_drop_undecided_items() -> None:
    pairs, state, info = LifelongDPO().pairs({}, _feedback(2))
    assert [(p.prompt, p.chosen, p.rejected, p.weight) for p in pairs] == [
        ("prompt k1", "x", "y", 1),
        ("prompt k2", "y", "x", 1),
        ("prompt k4", "x", "y", 1),
        ("prompt k5", "x", "y", 1),
    ]
    assert state == {} and info == {"pairs": 4}


def test_extrapolative_pairs_order_1_by_hand() -> None:
    got, state, info = _run_pairs(ExtrapolativeDPO(timesteps_ahead=1, extrapolation_order=1), 3)
    # last two steps, x_{t+1} = 2 x_t - x_{t-1}, votes relative to the step-3 ordering:
    # k1 [-1, 1] -> 3; k2 [1, 1] -> 1; k3 [0 (missing), 1] -> 2; k4 [1, 1] -> 1; k5 missing now
    assert got == {"k1": (Y, 3), "k2": (Y, 1), "k3": (X, 2), "k4": (X, 1)}
    assert info["effective_order"] == 1 and info["samples"] == 7
    assert (info["kept"], info["flipped"], info["missing_latest"]) == (4, 0, 1)
    assert len(state["history"]) == 3 and state["history"][1]["k3"] is None


def test_extrapolative_pairs_order_2_flip_missing_and_zero() -> None:
    algo = ExtrapolativeRLHF(timesteps_ahead="1", extrapolation_order="2")  # strings, as CLI
    got, _, info = _run_pairs(algo, 3)
    # x_{t+1} = x_{t-2} - 3 x_{t-1} + 3 x_t over all three steps:
    # k1 [-1, -1, 1] -> -1 + 3 + 3 = 5; k2 [-1, 1, 1] -> -1 - 3 + 3 = -1: flipped, weight 1
    # k3 [1, 0, 1] -> 1 - 0 + 3 = 4; k4 [0, 1, 1] -> 0 - 3 + 3 = 0: dropped; k5 missing now
    assert got == {"k1": (Y, 5), "k2": (X, 1), "k3": (X, 4)}
    assert (info["kept"], info["flipped"], info["dropped_zero"], info["missing_latest"]) == (
        3,
        1,
        1,
        1,
    )
    assert info["effective_order"] == 2 and info["samples"] == 10


def test_extrapolative_pairs_horizon_2_and_first_step() -> None:
    got, _, info = _run_pairs(ExtrapolativeDPO(timesteps_ahead=2, extrapolation_order=1), 3)
    # k1 [-1, 1] -> 3 -> 2*3 - 1 = 5; k3 [0, 1] -> 2 -> 3; k2, k4 constant 1
    assert got == {"k1": (Y, 5), "k2": (Y, 1), "k3": (X, 3), "k4": (X, 1)}
    assert info["horizon"] == 2
    first, _, info1 = _run_pairs(ExtrapolativeDPO(timesteps_ahead=2, extrapolation_order=2), 1)
    # one step of history: order 0, the plain preferences
    assert first == {"k1": (X, 1), "k2": (X, 1), "k3": (X, 1), "k5": (X, 1)}
    assert info1["effective_order"] == 0


def test_baseline_descriptions() -> None:
    assert LifelongRLHF().describe()["deviation"] == RLHF_DEVIATION
    assert ExtrapolativeRLHF().describe()["optimiser"] == "rlhf"
    assert "deviation" not in LifelongDPO().describe()
    assert LifelongDPO(independent="True").independent
    assert not LifelongDPO(independent="false").independent and not LifelongDPO().independent


# ------------------------------------------------------------------ spec from the config
CI_CONFIG: dict[str, Any] = {  # /tmp/bench/ci.yaml (the lead's CI config), as a dict
    "questionnaire": {"protocol": "paper-2024", "per_dimension": 1, "seed": 0},
    "evaluation": {
        "backend": "hf",
        "mode": "logprob",
        "scoring": "texts",
        "permutations": "identity",
        "prompt_format": "chat",
        "aggregation": "progressgym-2024",
        "bootstrap": 100,
        "seed": 0,
        "batch_size": 8,
    },
    "models": {
        "base": "tiny",
        "family": "tiny",
        "source": "tiny",
        "centuries": ["C014", "C016", "C017"],
    },
    "benchmark": {
        "algorithms": ["LifelongDPO", "LifelongRLHF", "ExtrapolativeDPO", "ExtrapolativeRLHF"],
        "challenges": ["follow", "predict", "coevolve"],
        "seeds": [0],
        "params": {"independent": False, "timesteps_ahead": 1, "extrapolation_order": 1},
        "challenge_params": {"predict": {"timesteps_ahead": 1}},
        "bootstrap": 100,
        "pool": {"question_types": ["repeat", "repeat2_fav"], "max_items": 2500, "seed": 42},
        "elicitation": {"mode": "texts", "prompt_format": "chat"},
        "coevolve": {"answers": "choice"},
    },
    "training": {
        "dpo": {
            "learning_rate": 1.0e-3,
            "epochs": 1,
            "batch_size": 4,
            "beta": 0.1,
            "sft_weight": 0.04,
            "max_length": 1024,
        },
        "reward": {"learning_rate": 1.0e-3, "epochs": 1, "batch_size": 4, "max_length": 1024},
        "rloo": {
            "learning_rate": 1.0e-4,
            "epochs": 1,
            "batch_size": 4,
            "max_new_tokens": 8,
            "num_generations": 2,
            "max_length": 1024,
        },
        "sft_history": {"learning_rate": 1.0e-3, "epochs": 1, "batch_size": 4, "max_length": 1024},
        "sft_influence": {
            "learning_rate": 1.0e-3,
            "epochs": 2,
            "batch_size": 4,
            "max_length": 1024,
        },
    },
}


def _family(root: Path, centuries: list[str]) -> Path:
    for c in centuries:
        (root / c).mkdir(parents=True)
        (root / c / "config.json").write_text("{}")
    return root


def test_spec_from_the_ci_config(tmp_path: Path) -> None:
    family = _family(tmp_path / "tiny", ["C014", "C016", "C017", "C018"])
    spec = spec_from_config(CI_CONFIG, family, tmp_path / "q", threads=1)
    assert spec.centuries == ("C014", "C016", "C017")  # the config's timeline, not the folder's
    assert spec.model("C016") == family / "C016" and spec.family == "tiny"
    assert spec.pool.question_types == ("repeat", "repeat2_fav") and spec.pool.seed == 42
    assert spec.elicit.mode == "texts" and spec.elicit.seed == 42
    assert spec.values.permutations == "identity" and spec.values.threads == 1
    assert spec.bootstrap == 100 and spec.challenge_params["predict"] == {"timesteps_ahead": 1}
    assert set(spec.training) == set(STAGES)
    json.dumps(spec.describe())  # recorded in every result
    with pytest.raises(ProgalignError, match="no model for century C021"):
        spec.model("C021")
    no_timeline = {**CI_CONFIG, "models": {"family": "tiny"}}
    assert spec_from_config(no_timeline, family, tmp_path / "q").centuries == (
        "C014",
        "C016",
        "C017",
        "C018",
    )


def test_spec_errors_name_the_culprit(tmp_path: Path) -> None:
    family = _family(tmp_path / "tiny", ["C014", "C017"])
    with pytest.raises(ProgalignError, match=r"no model folder for centuries \['C016'\]"):
        spec_from_config(CI_CONFIG, family, tmp_path / "q")
    partial = spec_from_config(
        CI_CONFIG, {"C014": family / "C014"}, tmp_path / "q", require_models=False
    )  # a single workflow step
    with pytest.raises(ProgalignError, match="no model for century C016"):
        partial.model("C016")
    # a stage the config leaves out runs with upstream's hyper-parameters (no late failure)
    training = {k: v for k, v in CI_CONFIG["training"].items() if k != "rloo"}
    family = _family(tmp_path / "full", ["C014", "C016", "C017"])
    spec = spec_from_config({**CI_CONFIG, "training": training}, family, tmp_path / "q")
    assert spec.training["rloo"]["learning_rate"] == 1e-6 and spec.training["rloo"]["epochs"] == 0.4


@pytest.mark.parametrize(
    ("section", "change", "message"),
    [
        (
            "training",
            {"dpo": {"learning_rate": 1e-3, "epochs": 1, "lr": 2}},
            r"training\.dpo\.lr: Unexpected keyword argument",
        ),
        ("training", {"reward": {"epochs": 1}}, r"training\.reward\.learning_rate: Field required"),
        (
            "training",
            {"rloo": {"learning_rate": 1e-3, "epochs": 1, "num_generations": 1}},
            r"training\.rloo: .*training setting num_generations=1 is out of range",
        ),
        (
            "benchmark",
            {"pool": {"question_types": ["repeat", "essay"]}},
            r"benchmark\.pool\.question_types\.1: Input should be 'ab'",
        ),
        (
            "benchmark",
            {"elicitation": {"mode": "texts", "temprature": 0.5}},
            r"benchmark\.elicitation\.temprature: Extra inputs",
        ),
        ("benchmark", {"elicitation": {"mode": "vote"}}, r"benchmark\.elicitation\.mode: .*'vote'"),
        ("benchmark", {"coevolve": {"answers": "essay"}}, r"benchmark\.coevolve\.answers"),
    ],
)
def test_spec_rejects_bad_settings_before_any_work(
    tmp_path: Path, section: str, change: dict[str, Any], message: str
) -> None:
    family = _family(tmp_path / "tiny", ["C014", "C016", "C017"])
    config = {**CI_CONFIG, section: {**CI_CONFIG[section], **change}}
    with pytest.raises(ProgalignError, match=message):
        spec_from_config(config, family, tmp_path / "q")
