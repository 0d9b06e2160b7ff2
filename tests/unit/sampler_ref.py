#!/usr/bin/python3
"""Reference for bc_sampler: Hugging Face transformers' logits processors and
warpers as generate() chains them for sampling (baichuan2.md section 4.3), written
out in torch as transformers 4.29-4.3x does (RepetitionPenaltyLogitsProcessor,
TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, then softmax).

Writes tests/data/sampler_cases.txt for test_sampler.c:

    case NAME
    vocab V
    params TEMPERATURE TOP_K TOP_P PENALTY
    history N id1 ... idN
    logits x0 ... x(V-1)           (float32 values, 9 significant digits)
    want N id1 p1 ... idN pN        (surviving ids and their probabilities)
    end

Temperature 0 means greedy search: the penalty, then argmax (first maximum).
Needs torch; run by developers, its output is committed.
Run:  tests/unit/sampler_ref.py [OUTPUT]
"""
import os
import random
import sys

import numpy as np
import torch

FILTER = -float("inf")
MIN_TOKENS_TO_KEEP = 1


def repetition_penalty(input_ids, scores, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    scores.scatter_(1, input_ids, score)
    return scores


def temperature_warp(scores, temperature):
    return scores / temperature


def top_k_warp(scores, top_k):
    top_k = min(max(top_k, MIN_TOKENS_TO_KEEP), scores.size(-1))
    indices_to_remove = scores < torch.topk(scores, top_k)[0][..., -1, None]
    return scores.masked_fill(indices_to_remove, FILTER)


def top_p_warp(scores, top_p):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_indices_to_remove = cumulative_probs <= (1 - top_p)
    sorted_indices_to_remove[..., -MIN_TOKENS_TO_KEEP:] = 0
    indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
    return scores.masked_fill(indices_to_remove, FILTER)


def top_p_margin(scores, top_p):
    """Distance of the closest finite ascending cumulative probability (float64)
    to the cut 1 - top_p, ignoring the always-kept largest one. Cases too close
    to the cut depend on float rounding, not on semantics, and are skipped."""
    s = scores[0].double()
    finite = s[torch.isfinite(s)]
    if finite.numel() <= 1:
        return 1.0
    cum = torch.sort(finite).values.softmax(-1).cumsum(-1)[:-1]
    return float((cum - (1 - top_p)).abs().min())


def reference(logits, history, temperature, top_k, top_p, penalty):
    """(ids, probs) that survive, as generate() would sample from them."""
    scores = torch.tensor(np.array([logits], dtype=np.float32))
    input_ids = torch.tensor([history], dtype=torch.long) if history else None
    if penalty != 1.0 and input_ids is not None:
        scores = repetition_penalty(input_ids, scores, penalty)
    if temperature == 0:  # greedy search: processors only, then argmax
        return [int(torch.argmax(scores[0]))], [1.0], 1.0
    if temperature != 1.0:
        scores = temperature_warp(scores, temperature)
    if top_k != 0:
        scores = top_k_warp(scores, top_k)
    margin = 1.0
    if top_p < 1.0:
        margin = top_p_margin(scores, top_p)
        scores = top_p_warp(scores, top_p)
    probs = torch.softmax(scores[0].double(), -1)
    ids = [i for i in range(len(logits)) if probs[i] > 0]
    return ids, [float(probs[i]) for i in ids], margin


def f32(x):
    return float(np.float32(x))


def make_case(rng, vocab, ties=False, negative=False):
    if ties:  # few distinct values: top-k must keep every tie at the boundary
        logits = [f32(rng.randint(-3, 3)) for _ in range(vocab)]
    elif negative:
        logits = [f32(-abs(rng.gauss(0, 3)) - 0.01) for _ in range(vocab)]
    else:
        logits = [f32(rng.gauss(0, 3)) for _ in range(vocab)]
    history = [rng.randrange(vocab) for _ in range(rng.randint(0, 12))]
    # Parameters are float32 values, as the C side holds them.
    temperature = f32(rng.choice([0.3, 0.7, 1.0, 1.0, 1.5, 2.0]))
    top_k = rng.choice([0, 0, 1, 2, 3, 5, 8, vocab, vocab + 7])
    top_p = f32(rng.choice([1.0, 1.0, 0.85, 0.5, 0.95, 0.2, 0.0]))
    penalty = f32(rng.choice([1.0, 1.05, 1.3, 2.0, 0.8]))
    if ties:
        top_p = 1.0  # tie order inside a sort is unspecified in torch
    return logits, history, temperature, top_k, top_p, penalty


def cases(rng):
    made = 0
    while made < 90:
        vocab = rng.randint(4, 32)
        case = make_case(rng, vocab)
        ids, probs, margin = reference(*case)
        if margin < 1e-4:
            continue
        yield f"random-{made}", case, ids, probs
        made += 1
    for i in range(15):
        case = make_case(rng, rng.randint(4, 24), ties=True)
        ids, probs, _ = reference(*case)
        yield f"ties-{i}", case, ids, probs
    made = 0
    while made < 15:
        case = make_case(rng, rng.randint(4, 24), negative=True)
        ids, probs, margin = reference(*case)
        if margin < 1e-4:
            continue
        yield f"negative-{made}", case, ids, probs
        made += 1
    for i in range(15):  # greedy, with ties so the first maximum matters
        logits, history, _, top_k, top_p, penalty = make_case(rng, rng.randint(4, 24),
                                                              ties=(i % 2 == 0))
        case = (logits, history, 0.0, top_k, top_p, penalty)
        ids, probs, _ = reference(*case)
        yield f"greedy-{i}", case, ids, probs
    # Exactly on the top-p cut (probabilities 1/2 and 1/4 are exact in
    # float): "<= 1 - top_p" removes the id whose cumulative sum equals the cut.
    for name, vocab, top_p in (("cut-exact-2", 2, 0.5), ("cut-exact-4", 4, 0.5),
                               ("cut-exact-4-quarter", 4, 0.25)):
        case = ([0.0] * vocab, [], 1.0, 0, top_p, 1.0)
        ids, probs, _ = reference(*case)
        yield name, case, ids, probs


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data",
                                                               "sampler_cases.txt")
    rng = random.Random(1013)
    torch.manual_seed(0)
    lines = ["# Generated by tests/unit/sampler_ref.py; do not edit."]
    n = 0
    for name, (logits, history, temperature, top_k, top_p, penalty), ids, probs in cases(rng):
        lines.append(f"case {name}")
        lines.append(f"vocab {len(logits)}")
        lines.append(f"params {temperature!r} {top_k} {top_p!r} {penalty!r}")
        lines.append(" ".join(["history", str(len(history))] + [str(h) for h in history]))
        lines.append(" ".join(["logits"] + ["%.9g" % x for x in logits]))
        lines.append(" ".join(["want", str(len(ids))] +
                              [f"{i} {p:.9g}" for i, p in zip(ids, probs)]))
        lines.append("end")
        n += 1
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {n} cases")


if __name__ == "__main__":
    main()
