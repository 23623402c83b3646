"""k-NN search with an expensive scorer: recall@k against scorer pairs per query.

Methods, at the same number of scorer pairs per query (the budget):

* ``anncur``: :class:`rankwise.retrieval.CURIndex`, half the budget on anchor items, half re-ranking;
* ``adaptive``: the same index, the re-ranking half split over 4 rounds (adaptive ANNCUR);
* ``rerank``: retrieve the budget's top items with a cheap dual encoder (dot product of the
  sentence embeddings), re-rank them with the exact scorer (MiniLM case only);
* ``random``: score a uniform random sample of the budget's size.

Score matrices (exact scores known, the scorer is a counted lookup):

1. a nonlinear scorer over all-MiniLM-L6-v2 sentence embeddings of template sentences:
   s(q, x) = cos(q, x) + λ·MLP([q, x, q⊙x, |q − x|]), a fixed random one-hidden-layer MLP whose
   part is scaled to the spread of the cosine (so a dual encoder sees only half of the signal);
2. synthetic low-rank (rank 20) plus noise;
3. an RBF kernel over Gaussian points in 16 dimensions.
"""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np

from rankwise.retrieval import RecallReport, evaluate, synthetic_scores

ADJECTIVES = ("old", "red", "quiet", "broken", "tiny", "famous", "cheap", "wooden", "bright", "hidden",
              "modern", "noisy")
NOUNS = ("car", "house", "guitar", "garden", "laptop", "bridge", "museum", "river", "bakery", "train",
         "castle", "phone", "forest", "library", "boat", "kitchen")
VERBS = ("was repaired", "was sold", "was painted", "was photographed", "was cleaned", "was moved",
         "was visited", "was closed")
PLACES = ("in the city", "near the coast", "after the storm", "last winter", "by a student", "at night")
QUESTIONS = ("Where can I find a {a} {n}?", "Who repaired the {a} {n}?", "Is the {a} {n} open today?",
             "How much does a {a} {n} cost?", "Tell me about the {a} {n}.")

BATCH = 128


def item_sentences(n: int, seed: int) -> list[str]:
    """n distinct sentences 'The {adj} {noun} {verb} {place}.' (a seeded sample of the product)."""
    every = [f"The {a} {o} {v} {p}." for a, o, v, p in itertools.product(ADJECTIVES, NOUNS, VERBS, PLACES)]
    pick = np.random.default_rng(seed).choice(len(every), size=n, replace=False)
    return [every[i] for i in np.sort(pick)]


def query_sentences(n: int, seed: int) -> list[str]:
    every = [t.format(a=a, n=o) for t, a, o in itertools.product(QUESTIONS, ADJECTIVES, NOUNS)]
    pick = np.random.default_rng(seed + 1).choice(len(every), size=min(n, len(every)), replace=False)
    return [every[i] for i in np.sort(pick)]


def _embed_all(sentences: list[str]) -> np.ndarray:
    from benchmarks.minilm import embed, encode, load_model

    model = load_model()
    out = [embed(model, encode(sentences[i:i + BATCH])).numpy() for i in range(0, len(sentences), BATCH)]
    E = np.concatenate(out).astype(np.float32)
    return E / np.linalg.norm(E, axis=1, keepdims=True)


def _mlp_scores(Q: np.ndarray, X: np.ndarray, seed: int, hidden: int = 64) -> np.ndarray:
    """v·tanh(W₁q + W₂x + W₃(q⊙x) + W₄|q − x| + b)/√H for every pair (float32, query blocks)."""
    d = Q.shape[1]
    gen = np.random.default_rng(seed)
    W = [gen.standard_normal((d, hidden)).astype(np.float32) * np.float32(3 / np.sqrt(d)) for _ in range(4)]
    b = gen.standard_normal(hidden).astype(np.float32)
    v = gen.standard_normal(hidden).astype(np.float32) / np.float32(np.sqrt(hidden))
    base = X @ W[1] + b  # n × H
    out = np.empty((Q.shape[0], X.shape[0]), dtype=np.float32)
    for i, q in enumerate(Q):
        pre = base + q @ W[0] + (X * q) @ W[2] + np.abs(X - q) @ W[3]
        out[i] = np.tanh(pre) @ v
    return out


def minilm_scores(n_queries: int, n_items: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(exact nonlinear scores, dual-encoder dot products), both n_queries × n_items, float64."""
    E = _embed_all(query_sentences(n_queries, seed) + item_sentences(n_items, seed))
    Q, X = E[:n_queries], E[n_queries:]
    cheap = (Q @ X.T).astype(np.float64)
    mlp = _mlp_scores(Q, X, seed).astype(np.float64)
    lam = cheap.std() / mlp.std()
    return cheap + lam * mlp, cheap


def table(title: str, rep: RecallReport, seconds: float) -> str:
    lines = [f"### {title}", "",
             f"_{rep.options['n_anchor_queries']} anchor queries (offline: {rep.offline_pairs[0]:,} scorer "
             f"pairs), {rep.n_test} test queries, anchor items = budget/2, adaptive rounds = "
             f"{rep.options['rounds']}; {seconds:.1f} s._", "",
             "| method | scorer pairs / query | " + " | ".join(f"recall@{k}" for k in rep.ks) + " |",
             "|---|---:|" + "---:|" * len(rep.ks)]
    for i, method in enumerate(rep.methods):
        for j in range(len(rep.budgets)):
            cells = " | ".join(f"{r:.3f}" for r in rep.recall[i, j])
            lines.append(f"| {method} | {rep.pairs[i, j]:g} | {cells} |")
    return "\n".join(lines)


def _case(title: str, M: np.ndarray, cheap: np.ndarray | None, budgets: tuple[int, ...], kq: int,
          n_test: int) -> str:
    t0 = time.perf_counter()
    rep = evaluate(M, budgets, ks=(1, 10, 100), n_anchor_queries=kq, n_test=n_test, cheap=cheap, rng=0)
    text = table(title, rep, time.perf_counter() - t0)
    print(text + "\n", flush=True)
    return text


def main(quick: bool = False, repeats: int = 3) -> list[str]:
    """Print (and return) one recall table per score matrix (``repeats`` is unused: recall is exact)."""
    del repeats
    budgets = (50, 100, 200, 500) if quick else (50, 100, 200, 500, 1000, 2000)
    nq, ni, kq, nt = (300, 1500, 200, 50) if quick else (600, 3000, 400, 100)
    t0 = time.perf_counter()
    M, cheap = minilm_scores(nq, ni, seed=0)
    corr = float(np.corrcoef(M.ravel(), cheap.ravel())[0, 1])
    out = [_case(f"MiniLM nonlinear scorer, {nq} queries × {ni} items (corr. with the dual encoder "
                 f"{corr:.2f}; scores built in {time.perf_counter() - t0:.0f} s)", M, cheap,
                 tuple(b for b in budgets if b <= ni), kq, nt)]
    sq, si, skq, snt = (500, 4000, 300, 30) if quick else (2000, 20000, 500, 100)
    for kind, label in (("lowrank", "rank 20 + noise 0.1"), ("kernel", "RBF kernel, 16-D points")):
        S = synthetic_scores(kind, sq, si, rank=20, noise=0.1, rng=1)  # type: ignore[arg-type]
        out.append(_case(f"synthetic {label}, {sq} queries × {si} items", S, None, budgets, skq, snt))
    return out


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
