#!/usr/bin/python3
"""Reference for bc_chat_build: Baichuan2's build_chat_input (generation_utils.py,
described step by step in baichuan2.md section 4.1), transcribed with the tokenizer
taken out: every message's content is already a list of token ids, so
`tokenizer.encode(content)` is the identity.

Writes tests/data/chat_template_cases.txt, which test_chat_template.c replays:

    case NAME
    max MAX_INPUT_TOKENS
    msg ROLE N id1 ... idN        (one line per message, in order)
    want N id1 ... idN
    end

Run:  tests/unit/chat_template_ref.py [OUTPUT]
"""
import os
import random
import sys

USER_TOKEN_ID = 195       # generation_config.json user_token_id
ASSISTANT_TOKEN_ID = 196  # generation_config.json assistant_token_id


def parse_messages(messages, split_role="user"):
    """upstream _parse_messages: the system message (index 0 only) and the rest
    grouped into rounds, a new round at every user message."""
    system, rounds = [], []
    round_ = []
    for i, message in enumerate(messages):
        if message["role"] == "system":
            assert i == 0
            system = message["content"]
            continue
        if message["role"] == split_role and round_:
            rounds.append(round_)
            round_ = []
        round_.append(message)
    if round_:
        rounds.append(round_)
    return system, rounds


def build_chat_input(messages, max_input_tokens):
    """upstream build_chat_input after max_input_tokens =
    model_max_length - max_new_tokens has been computed."""
    system, rounds = parse_messages(messages, split_role="user")
    system_tokens = list(system)  # tokenizer.encode(system)
    max_history_tokens = max_input_tokens - len(system_tokens)

    history_tokens = []
    for round_ in rounds[::-1]:
        round_tokens = []
        for message in round_:
            if message["role"] == "user":
                round_tokens.append(USER_TOKEN_ID)
            else:
                round_tokens.append(ASSISTANT_TOKEN_ID)
            round_tokens.extend(message["content"])  # tokenizer.encode(content)
        if len(history_tokens) == 0 or len(history_tokens) + len(round_tokens) <= max_history_tokens:
            history_tokens = round_tokens + history_tokens  # concat left
            if len(history_tokens) < max_history_tokens:
                continue
        break

    input_tokens = system_tokens + history_tokens
    if messages[-1]["role"] != "assistant":
        input_tokens.append(ASSISTANT_TOKEN_ID)
    input_tokens = input_tokens[-max_input_tokens:]  # truncate left
    return input_tokens


# ---- case generation --------------------------------------------------------

def ids(rng, lo, hi):
    # Mostly small ids (keeps the cases file small), some from the whole
    # 125,696 vocabulary, and the role tokens themselves, so the C side cannot
    # rely on content never containing 195/196.
    def one():
        r = rng.random()
        if r < 0.05:
            return rng.choice([USER_TOKEN_ID, ASSISTANT_TOKEN_ID])
        if r < 0.15:
            return rng.randrange(0, 125696)
        return rng.randrange(0, 1000)
    return [one() for _ in range(rng.randint(lo, hi))]


def conversation(rng, n_rounds, system_len=None, last_assistant=False,
                 first_assistant=False, max_len=8):
    msgs = []
    if system_len is not None:
        msgs.append({"role": "system", "content": ids(rng, system_len, system_len)})
    if first_assistant:
        msgs.append({"role": "assistant", "content": ids(rng, 0, max_len)})
    for r in range(n_rounds):
        msgs.append({"role": "user", "content": ids(rng, 0, max_len)})
        last = r == n_rounds - 1
        if not last or last_assistant:
            msgs.append({"role": "assistant", "content": ids(rng, 0, max_len)})
    return msgs


def round_lengths(msgs):
    _, rounds = parse_messages(msgs)
    return [sum(1 + len(m["content"]) for m in r) for r in rounds]


def system_len(msgs):
    return len(msgs[0]["content"]) if msgs and msgs[0]["role"] == "system" else 0


def cases(rng):
    # Plain random conversations over a spread of limits.
    for i in range(60):
        sys_len = rng.choice([None, 0, rng.randint(1, 10)])
        msgs = conversation(rng, rng.randint(1, 6), sys_len,
                            last_assistant=rng.random() < 0.25,
                            first_assistant=rng.random() < 0.1)
        yield f"random-{i}", msgs, rng.randint(1, 90)

    # A limit where the oldest kept round fits exactly (total == max_history),
    # one less (that round no longer fits) and one more.
    for i in range(25):
        msgs = conversation(rng, rng.randint(2, 6), rng.choice([None, rng.randint(0, 8)]),
                            last_assistant=rng.random() < 0.3)
        lens = round_lengths(msgs)
        k = rng.randint(1, len(lens))
        exact = system_len(msgs) + sum(lens[-k:])
        for delta, tag in ((0, "exact"), (-1, "one-short"), (1, "one-over")):
            if exact + delta >= 1:
                yield f"fit-{tag}-{i}", msgs, exact + delta

    # System prompt longer than the whole limit: the newest round is still
    # taken, then the left truncation cuts into the system ids.
    for i in range(15):
        msgs = conversation(rng, rng.randint(1, 4), rng.randint(20, 40))
        yield f"system-too-long-{i}", msgs, rng.randint(1, 19)

    # The newest round alone is longer than the limit.
    for i in range(10):
        msgs = conversation(rng, rng.randint(1, 3), rng.choice([None, 3]), max_len=40)
        msgs[-1]["content"] = ids(rng, 30, 40)
        yield f"newest-round-too-long-{i}", msgs, rng.randint(1, 25)

    # Ends with an assistant message (no trailing 196 added).
    for i in range(10):
        msgs = conversation(rng, rng.randint(1, 4), rng.choice([None, 4]), last_assistant=True)
        yield f"last-assistant-{i}", msgs, rng.randint(5, 60)

    # Degenerate shapes.
    yield "system-only", [{"role": "system", "content": [5, 6, 7]}], 10
    yield "system-only-truncated", [{"role": "system", "content": [5, 6, 7]}], 2
    yield "empty-system", [{"role": "system", "content": []},
                           {"role": "user", "content": [9]}], 10
    yield "single-user", [{"role": "user", "content": [16829]}], 2048
    yield "single-user-limit-1", [{"role": "user", "content": [1, 2, 3]}], 1
    yield "assistant-only", [{"role": "assistant", "content": [4, 4]}], 10
    yield "user-user", [{"role": "user", "content": [1]}, {"role": "user", "content": [2]}], 3
    yield "empty-contents", [{"role": "user", "content": []},
                             {"role": "assistant", "content": []},
                             {"role": "user", "content": []}], 4


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data",
                                                               "chat_template_cases.txt")
    rng = random.Random(20240917)
    lines = ["# Generated by tests/unit/chat_template_ref.py; do not edit."]
    n = 0
    for name, msgs, max_input in cases(rng):
        want = build_chat_input(msgs, max_input)
        lines.append(f"case {name}")
        lines.append(f"max {max_input}")
        for m in msgs:
            lines.append(" ".join(["msg", m["role"], str(len(m["content"]))] +
                                  [str(t) for t in m["content"]]))
        lines.append(" ".join(["want", str(len(want))] + [str(t) for t in want]))
        lines.append("end")
        n += 1
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {n} cases")


if __name__ == "__main__":
    main()
