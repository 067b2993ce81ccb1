#!/usr/bin/env python3
"""Writes the statements a pgbench script of this benchmark would send, one per line.

    pgbench_calls.py SCRIPT COUNT PHONES SEED

SCRIPT is one of the per-lead scripts (pgbench/leadsync_ingest_lead.pgbench,
baselines/plpgsql_ingest_lead.pgbench): three \\set lines (src, phone, n) and an
\\if/\\elif/\\else block with one statement per branch. Each output line is the branch
pgbench would take, with :src, :phone and :n drawn from the same ranges as those \\set
lines (by Python's generator seeded with SEED, not pgbench's: the same mix of sources and
cases, and the same leads for every script given the same SEED). run.sh's instruction
count feeds these lines to a single-user backend, which runs one statement per line.
"""
import random
import re
import sys


def branches(script):
    """(condition, statement) per branch of the script's \\if block, in order."""
    result, condition = [], None
    for line in open(script, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("--") or not line.strip() or line.startswith("\\set"):
            continue
        if line.startswith("\\if ") or line.startswith("\\elif "):
            condition = line.split(" ", 1)[1]
        elif line == "\\else":
            condition = "true"
        elif line == "\\endif":
            condition = None
        elif condition is not None:
            result.append((condition, line))
        else:
            raise SystemExit(f"{script}: a statement outside the \\if block: {line[:60]}")
    return result


def holds(condition, src):
    """The script's branch conditions: ':src <= 2', ':src = 3', 'true'."""
    match = re.fullmatch(r":src (<=|=) (\d+)", condition)
    if condition == "true":
        return True
    if not match:
        raise SystemExit(f"unsupported condition {condition!r}")
    limit = int(match.group(2))
    return src <= limit if match.group(1) == "<=" else src == limit


def main():
    script, count, phones, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    choices = branches(script)
    draw = random.Random(seed)
    for _ in range(count):
        # The same draws as the scripts' \set lines: src random(1, 4), phone 9000000000 +
        # random(1, :phones), n random(1, 1000000000).
        src = draw.randint(1, 4)
        values = {"src": src, "phone": 9000000000 + draw.randint(1, phones), "n": draw.randint(1, 1000000000)}
        statement = next(text for condition, text in choices if holds(condition, src))
        print(re.sub(r":(src|phone|n)\b", lambda m: str(values[m.group(1)]), statement))


if __name__ == "__main__":
    main()
