#!/usr/bin/env python3
"""Formats run.sh's samples (KEY<TAB>VALUE lines) as one markdown table: workload, leadsync
figure, baseline figure, ratio, target, met. Each figure is the median of its samples;
each ratio is between two medians of the same run. Rows whose samples are missing (a
benchmark left out with --only) are skipped. Never fails on a missed target: asserting
is the reader's job (and not done at all in --quick mode)."""
import argparse
import statistics
import sys
from collections import defaultdict


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--mode", default="full")
    for name in ("rows", "batch", "scale-small", "scale-big", "writers", "writer-leads", "writer-batch",
                 "pgbench-tx", "fetch-big", "fetch-small", "seed-leads", "instr-calls", "wh-leads",
                 "wh-rate-seconds", "wh-meta-rate", "wh-meta-seconds", "wh-rss-small", "wh-rss-big"):
        p.add_argument("--" + name, type=int, default=0)
    a = p.parse_args()

    samples = defaultdict(list)
    with open(a.results) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            if value.strip():
                samples[key].append(float(value))
    med = {k: statistics.median(v) for k, v in samples.items()}
    runs = {k: len(v) for k, v in samples.items()}

    def have(*keys):
        return all(k in med for k in keys)

    def n(count):
        if count >= 1000000 and count % 1000000 == 0:
            return "%dM" % (count // 1000000)
        if count >= 1000 and count % 1000 == 0:
            return "%dk" % (count // 1000)
        return "{:,}".format(count)

    def ms(key):
        return "%.0f ms" % med[key] if med[key] >= 100 else "%.1f ms" % med[key]

    def tps(key):
        return "%.0f tps" % med[key]

    def mib(key):
        return "%.1f MiB" % (med[key] / 1024)

    def runs_of(*keys):
        return "median of %d" % min(runs[k] for k in keys)

    rows = []  # workload, leadsync, baseline, ratio (float or None), ratio text suffix, target, met (bool or None)

    def row(workload, leadsync, baseline, ratio, target, ok, ratio_fmt="%.2f×"):
        rows.append((workload, leadsync, baseline, ratio_fmt % ratio if ratio is not None else "—", target, ok))

    if have("norm.normalize_ms", "norm.length_ms", "norm.regexp_ms", "norm.count_ms"):
        r = med["norm.normalize_ms"] / med["norm.length_ms"]
        row("normalize_phone over %s rows vs `length(text)` (%s)" % (n(a.rows), runs_of("norm.normalize_ms")),
            ms("norm.normalize_ms"), ms("norm.length_ms") + " (length)", r, "≤ 1.3× the time", r <= 1.3)
        r = med["norm.regexp_ms"] / med["norm.normalize_ms"]
        row("normalize_phone vs `right(regexp_replace(p, '\\D', '', 'g'), 10)`",
            ms("norm.normalize_ms"), ms("norm.regexp_ms") + " (regexp SQL)", r, "≥ 10× faster", r >= 10,
            "%.1f× faster")
        scan = med["norm.count_ms"]
        if med["norm.normalize_ms"] > scan:
            r = (med["norm.regexp_ms"] - scan) / (med["norm.normalize_ms"] - scan)
            row("… the same, per-row cost net of the bare scan `count(p)` = %s (info)" % ms("norm.count_ms"),
                "%.0f ms" % (med["norm.normalize_ms"] - scan), "%.0f ms" % (med["norm.regexp_ms"] - scan), r,
                "—", None, "%.1f× faster")
    if have("pg.leadsync_tps", "pg.plpgsql_tps"):
        head = "ingest_lead, pgbench 2 clients × %d, mixed sources, overlapping phones, sync commit off, %s seed leads (%s)" % (
            a.pgbench_tx, n(a.seed_leads), runs_of("pg.leadsync_tps"))
        r = med["pg.leadsync_tps"] / med["pg.plpgsql_tps"]
        row(head + " vs PL/pgSQL ingest", tps("pg.leadsync_tps"), tps("pg.plpgsql_tps") + " (PL/pgSQL)", r,
            "≥ 1.5× the TPS", r >= 1.5)
    if have("pg.leadsync_tps", "pg.bare_tps"):
        r = med["pg.leadsync_tps"] / med["pg.bare_tps"]
        row("… vs bare single-row `INSERT … ON CONFLICT DO NOTHING`", tps("pg.leadsync_tps"),
            tps("pg.bare_tps") + " (bare INSERT)", r, "≥ 0.6× the TPS", r >= 0.6)
    if have("pg.writes_tps", "pg.plpgsql_tps", "pg.bare_tps", "pg.leadsync_tps"):
        r = med["pg.writes_tps"] / med["pg.plpgsql_tps"]
        row("… floor (info): the rows ingest_lead writes, one SQL statement per lead from fields the client extracted, "
            "no function call (baselines/writes_per_lead.pgbench), vs PL/pgSQL ingest",
            tps("pg.writes_tps"), tps("pg.plpgsql_tps") + " (PL/pgSQL)", r, "—", None)
        r = med["pg.writes_tps"] / med["pg.bare_tps"]
        row("… the same floor vs bare INSERT (info)", tps("pg.writes_tps"), tps("pg.bare_tps") + " (bare INSERT)", r,
            "—", None)
        r = med["pg.leadsync_tps"] / med["pg.writes_tps"]
        row("… ingest_lead vs that floor (info: the cost of the call, the extraction and the lookups)",
            tps("pg.leadsync_tps"), tps("pg.writes_tps") + " (floor)", r, "—", None)
    if have("pg.leadsync_tps", "pg.original_tps"):
        r = med["pg.leadsync_tps"] / med["pg.original_tps"]
        row("… vs the original system (SELECT, INSERT, counter read-modify-write: separate round trips)",
            tps("pg.leadsync_tps"), tps("pg.original_tps") + " (original)", r, "report", None)
    if have("pg.leadsync_replay_tps", "pg.plpgsql_replay_tps"):
        r = med["pg.leadsync_replay_tps"] / med["pg.plpgsql_replay_tps"]
        row("… info: a lookback replayed, every lead a same-source duplicate of a seed lead, vs PL/pgSQL ingest",
            tps("pg.leadsync_replay_tps"), tps("pg.plpgsql_replay_tps") + " (PL/pgSQL)", r, "—", None)
    if have("instr.leadsync_per_call", "instr.plpgsql_per_call"):
        r = med["instr.plpgsql_per_call"] / med["instr.leadsync_per_call"]
        row("… info: CPU instructions per call, counted by callgrind (execution and commit; parse and plan excluded, "
            "as a prepared statement does them once): %s of the same calls from the seeded state, in a single-user "
            "backend, PL/pgSQL ingest vs ingest_lead"
            % n(a.instr_calls), "%.0fk" % (med["instr.leadsync_per_call"] / 1000),
            "%.0fk (PL/pgSQL)" % (med["instr.plpgsql_per_call"] / 1000), r, "—", None, ratio_fmt="%.2f× fewer")
    if have("batch.new_ms", "batch.floor_ms"):
        r = med["batch.new_ms"] / med["batch.floor_ms"]
        row("ingest_leads, %s new Meta leads in one call, vs set-based SQL floor (%s)" % (n(a.batch), runs_of("batch.new_ms")),
            ms("batch.new_ms"), ms("batch.floor_ms") + " (SQL floor)", r, "≤ 0.8× the time", r <= 0.8)
    if have("batch.new_ms", "batch.writes_ms"):
        r = med["batch.new_ms"] / med["batch.writes_ms"]
        row("… vs the floor's writes alone, rows pre-extracted (info: no ingest that writes through SQL can beat this)",
            ms("batch.new_ms"), ms("batch.writes_ms") + " (writes only)", r, "—", None)
    if have("batch.dup_ms", "batch.new_ms"):
        r = med["batch.dup_ms"] / med["batch.new_ms"]
        row("the same %s again (all duplicates) vs the new-lead call" % n(a.batch), ms("batch.dup_ms"),
            ms("batch.new_ms") + " (new leads)", r, "≤ 0.25× the time", r <= 0.25)
    if have("scale.small_ms", "scale.big_ms"):
        r = med["scale.big_ms"] / med["scale.small_ms"]
        row("scaling: %s leads in one call vs %s (compact Meta payloads, %s)" % (
            n(a.scale_big), n(a.scale_small), runs_of("scale.big_ms")),
            ms("scale.big_ms"), ms("scale.small_ms") + " (%s)" % n(a.scale_small), r,
            "≤ %g× the time" % (1.1 * a.scale_big / a.scale_small) if a.scale_small else "—",
            r <= 1.1 * a.scale_big / a.scale_small if a.scale_small else None)
    if have("conc.one_ms", "conc.four_ms", "conc.errors"):
        r = med["conc.one_ms"] / med["conc.four_ms"]
        lps = lambda key: "%.0f leads/s" % (a.writer_leads / (med[key] / 1000.0))
        row("%d concurrent ingest_leads writers vs 1, %s leads in batches of %d, overlapping phones, 3 sources (%s)" % (
            a.writers, n(a.writer_leads), a.writer_batch, runs_of("conc.four_ms")),
            lps("conc.four_ms"), lps("conc.one_ms") + " (1 writer)", r, "≥ 1.3× the throughput", r >= 1.3)
        errors = int(sum(samples["conc.errors"]))
        rows.append(("… deadlocks, errors, broken invariants (all %d rounds)" % runs["conc.errors"], str(errors), "—",
                     "—", "0", errors == 0))
    if have("fetch.total_ms", "fetch.ingest_ms"):
        r = med["fetch.total_ms"] / med["fetch.ingest_ms"]
        row("leadsync-fetch, %s leads from the fake Meta server, pages of 100, vs the same pages ingested by psql (%s)" % (
            n(a.fetch_big), runs_of("fetch.total_ms")),
            ms("fetch.total_ms"), ms("fetch.ingest_ms") + " (ingest alone)", r, "≤ 1.5× the time", r <= 1.5)
    if have("fetch.dry_ms", "fetch.total_ms"):
        r = med["fetch.dry_ms"] / med["fetch.total_ms"]
        row("… fetching alone (the same run with --dry-run: HTTP, JSON, no ingest; it overlaps the ingest; info)", ms("fetch.dry_ms"),
            ms("fetch.total_ms") + " (full run)", r, "—", None)
    if have("fetch.cpu_ms", "fetch.total_ms"):
        r = med["fetch.cpu_ms"] / med["fetch.total_ms"]
        row("… leadsync-fetch's own CPU time, user + sys (info)", ms("fetch.cpu_ms"),
            ms("fetch.total_ms") + " (full run, wall)", r, "—", None)
    if have("fetch.ingest_empty_ms", "fetch.ingest_ms"):
        r = med["fetch.ingest_empty_ms"] / med["fetch.ingest_ms"]
        row("… the same pages into empty tables with no statistics (info)", ms("fetch.ingest_empty_ms"),
            ms("fetch.ingest_ms") + " (%s seed leads, analyzed)" % n(a.seed_leads), r, "—", None)
    if have("fetch.rss_big_kb"):
        big = max(samples["fetch.rss_big_kb"]) / 1024
        rows.append(("leadsync-fetch peak RSS, %s leads (max of %d runs)" % (n(a.fetch_big), runs["fetch.rss_big_kb"]),
                     "%.1f MiB" % big, "—", "—", "≤ 64 MiB", big <= 64))
    if have("fetch.rss_big_kb", "fetch.rss_small_kb"):
        big, small = max(samples["fetch.rss_big_kb"]), max(samples["fetch.rss_small_kb"])
        r = big / small
        row("… %s leads vs %s leads" % (n(a.fetch_big), n(a.fetch_small)), "%.1f MiB" % (big / 1024),
            "%.1f MiB (%s)" % (small / 1024, n(a.fetch_small)), r, "within 10%", abs(r - 1) <= 0.10)
    if have("wh.google_rps", "wh.pgbench_tps"):
        r = med["wh.google_rps"] / med["wh.pgbench_tps"]
        row("leadsync-fetch serve: %s Google webhooks (new leads) from 8 clients (wrk), vs pgbench calling ingest_lead "
            "with 8 clients on the same payloads (%s)" % (n(a.wh_leads), runs_of("wh.google_rps")),
            "%.0f req/s" % med["wh.google_rps"], tps("wh.pgbench_tps") + " (pgbench)", r, "≥ 0.7× the TPS", r >= 0.7)
    if have("wh.server_cpu_us", "wh.google_rps"):
        wall_us = 1e6 / med["wh.google_rps"]
        row("… info: the server's own CPU time per webhook (user + system) vs the wall time per webhook at that "
            "rate (2 cores shared by wrk, the server and PostgreSQL)", "%.0f µs" % med["wh.server_cpu_us"],
            "%.0f µs (wall)" % wall_us, med["wh.server_cpu_us"] / wall_us, "—", None)
    if have("wh.rate_p99_ms", "wh.rate_p50_ms"):
        rows.append(("… latency at a fixed 200 requests/s for %d s (new leads, 8 clients; p50 %.1f ms), p99 from "
                     "the moment each request was due" % (a.wh_rate_seconds, med["wh.rate_p50_ms"]),
                     "%.1f ms" % med["wh.rate_p99_ms"], "—", "—", "p99 ≤ 25 ms", med["wh.rate_p99_ms"] <= 25))
    if have("wh.meta_p99_ms", "wh.meta_p50_ms"):
        rows.append(("Meta webhooks at %d leads/s for %d s, fake Graph answering in 50 ms: p99 from the 2xx to the "
                     "lead's row seen by a reader polling every 10 ms (p50 %.0f ms)" % (
                         a.wh_meta_rate, a.wh_meta_seconds, med["wh.meta_p50_ms"]),
                     ms("wh.meta_p99_ms"), "—", "—", "p99 ≤ 1 s", med["wh.meta_p99_ms"] <= 1000))
    if have("wh.rss_big_kb", "wh.rss_small_kb"):
        big, small = med["wh.rss_big_kb"], med["wh.rss_small_kb"]
        rows.append(("leadsync-fetch serve RSS after %s requests" % n(a.wh_rss_big), "%.1f MiB" % (big / 1024), "—", "—",
                     "≤ 64 MiB", big <= 64 * 1024))
        row("… vs its RSS after %s requests" % n(a.wh_rss_small), "%.1f MiB" % (big / 1024),
            "%.1f MiB (%s)" % (small / 1024, n(a.wh_rss_small)), big / small, "within 10%", abs(big / small - 1) <= 0.10)

    quick = a.mode == "quick"
    print("| workload | leadsync | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for workload, leadsync, baseline, ratio, target, ok in rows:
        if ok is None:
            met = "—"
        elif quick:
            met = "(%s; quick mode, not asserted)" % ("yes" if ok else "no")
        else:
            met = "**yes**" if ok else "**NO**"
        print("| %s | %s | %s | %s | %s | %s |" % (workload, leadsync, baseline, ratio, target, met))
    if not quick:
        missed = [r[0] for r in rows if r[5] is False]
        print()
        print("Targets met: %d of %d." % (sum(1 for r in rows if r[5] is True), sum(1 for r in rows if r[5] is not None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
