#!/usr/bin/env python3
"""The tables of BENCHMARKS.md from two runs of scripts/bench-all.sh.

    scripts/bench-tables.py target/bench-runs/RUN1 target/bench-runs/RUN2

Each cell is "run 1 / run 2", in the units and rounding BENCHMARKS.md
uses. A figure missing from a report is an error, never a 0.
"""

import json
import math
import re
import sys
from pathlib import Path


def load(d, name):
    return json.loads((Path(d) / f"{name}.json").read_text())


def get(report, *path):
    v = report
    for k in path:
        if not isinstance(v, dict) or k not in v or v[k] is None:
            raise SystemExit(f"missing figure {'.'.join(path)}")
        v = v[k]
    return v


def sig3(x):
    """Three significant figures, as the tables print latencies."""
    if x == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{digits}f}"


def thousands(x):
    return f"{round(x):,}"


def both(runs, fmt, *path):
    return " / ".join(fmt(get(r, *path)) for r in runs)


def cpu(x):
    return f"{x:.2f} s"


def mb(x):
    return f"{x:.1f} MB"


def push_row(label, runs):
    errors = " / ".join(
        f"{get(r, 'errors')}+{get(r, 'errors_outside_window')}" for r in runs
    )
    return "| " + " | ".join(
        [
            label,
            both(runs, thousands, "heartbeats_per_s"),
            both(runs, sig3, "latency_ms", "p50"),
            both(runs, sig3, "latency_ms", "p99"),
            both(runs, sig3, "latency_ms", "max"),
            both(runs, cpu, "meta_cpu_s"),
            both(runs, mb, "meta_peak_rss_mb"),
            both(runs, str, "false_offline_events"),
            errors,
            both(runs, str, "raft_entries_during_run"),
        ]
    ) + " |"


PUSH_HEAD = (
    "| run | heartbeats/s | p50 ms | p99 ms | max ms | meta CPU | meta peak RSS "
    "| false OFFLINE | errors | Raft entries in the window |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def push_table(head, rows):
    """A table of push reports: (label, reports of both runs) per row."""
    print(head)
    for label, runs in rows:
        print(push_row(label, runs))


def section(title):
    print(f"\n### {title}\n")


def main(dirs):
    if len(dirs) != 2:
        raise SystemExit(__doc__)
    commits = {(Path(d) / "commit").read_text().strip() for d in dirs}
    print(f"commit(s): {', '.join(sorted(commits))}")
    L = lambda name: [load(d, name) for d in dirs]

    section("What metrics cost")
    print("| run | off: heartbeats/s | scraped: heartbeats/s | ratio | meta CPU per heartbeat, ratio | p99 ms off / scraped | scrapes (none failed) |")
    print("|---|---|---|---|---|---|---|")
    for i, r in enumerate(L("metrics-scrape"), 1):
        print(
            f"| {i} | {thousands(get(r, 'metrics_off', 'heartbeats_per_s'))} "
            f"| {thousands(get(r, 'scraped', 'heartbeats_per_s'))} "
            f"| {get(r, 'ratio', 'heartbeats_per_s'):.2f} "
            f"| {get(r, 'ratio', 'meta_cpu_per_heartbeat'):.2f} "
            f"| {get(r, 'metrics_off', 'latency_ms', 'p99'):.2f} / {get(r, 'scraped', 'latency_ms', 'p99'):.2f} "
            f"| {get(r, 'scrapes')} |"
        )

    section("A metadata change pushed to 1,000 watchers")
    runs = L("watch-1k")
    print("| hosts | every host has it | first host ms | per host p50 ms | per host p99 ms | write answered ms | connections opened | meta CPU | meta peak RSS | false OFFLINE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        "| 1,000 | "
        + " | ".join(
            [
                both(runs, lambda x: f"{x:.3f} s", "all_hold_it_s"),
                both(runs, lambda x: f"{x:.0f}", "first_host_ms"),
                both(runs, lambda x: f"{x:.0f}", "per_host_ms", "p50"),
                both(runs, lambda x: f"{x:.0f}", "per_host_ms", "p99"),
                both(runs, lambda x: f"{x:.0f}", "write_ms"),
                both(runs, str, "connections_opened"),
                both(runs, cpu, "meta_cpu_s"),
                both(runs, mb, "meta_peak_rss_mb"),
                both(runs, str, "false_offline_events"),
            ]
        )
        + " |"
    )

    section("push heartbeats")
    push_table(
        PUSH_HEAD,
        [
            ("1,000 hosts @ 1s, 30s", L("push-1k")),
            ("10,000 hosts @ 1s, 30s", L("push-10k")),
            ("closed loop, 1,000 hosts, 64 in flight", L("closed-1k")),
            ("closed loop, 10,000 hosts, 256 in flight", L("closed-10k")),
        ],
    )

    section("TLS")
    print(PUSH_HEAD)
    tc, t10 = L("tls-closed-1k"), L("tls-10k")
    for label, runs in [
        ("closed loop, 1,000 hosts, 64 in flight", tc),
        ("10,000 hosts @ 1s, 30s", t10),
    ]:
        print(push_row(f"{label}, plaintext", [get(r, "plaintext") for r in runs]))
        print(push_row(f"{label}, TLS", [get(r, "tls") for r in runs]))
    print()
    print("| ratio TLS / plaintext | heartbeats/s | p50 | p99 | meta CPU per heartbeat | meta peak RSS |")
    print("|---|---|---|---|---|---|")
    for label, runs in [
        ("closed loop, 1,000 hosts, 64 in flight", tc),
        ("10,000 hosts @ 1s", t10),
    ]:
        f2 = lambda x: f"{x:.2f}"
        print(
            f"| {label} | "
            + " | ".join(
                both(runs, f2, "ratio", k)
                for k in [
                    "heartbeats_per_s",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "meta_cpu_per_heartbeat",
                    "meta_peak_rss_mb",
                ]
            )
            + " |"
        )

    section("Failover")
    runs = L("failover")
    rounds = " / ".join(", ".join(str(x) for x in get(r, "rounds_ms")) for r in runs)
    print("| rounds (ms) | median ms | max ms | false OFFLINE | terms judged |")
    print("|---|---|---|---|---|")
    print(
        f"| {rounds} | {both(runs, thousands, 'median_ms')} | {both(runs, thousands, 'max_ms')} "
        f"| {both(runs, str, 'false_offline_events')} | {both(runs, str, 'terms_judged')} |"
    )

    section("Writes")
    print("| meta servers | in flight | writes/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for servers, flight, name in [
        (1, 1, "writes-1-1"),
        (3, 1, "writes-3-1"),
        (1, 64, "writes-1-64"),
        (3, 64, "writes-3-64"),
    ]:
        runs = L(name)
        print(
            f"| {servers} | {both(runs, str, 'concurrency')} | {both(runs, thousands, 'writes_per_s')} "
            f"| {both(runs, sig3, 'latency_ms', 'p50')} | {both(runs, sig3, 'latency_ms', 'p99')} "
            f"| {both(runs, str, 'errors')} |"
        )

    section("10,000 hosts against 3 meta servers")
    push_table(
        PUSH_HEAD.replace("meta CPU | meta peak RSS", "leader CPU | leader peak RSS"),
        [("10,000 hosts @ 1s, 30s, 3 meta servers", L("push-10k-3meta"))],
    )

    section("Leader reports")
    push_table(
        PUSH_HEAD,
        [
            ("1,000 hosts @ 1s, no reports", L("push-1k")),
            ("1,000 hosts @ 1s, 100 leaders each", L("leaders-1k")),
            ("closed loop, no reports", L("closed-1k")),
            ("closed loop, 100 leaders each", L("leaders-closed")),
        ],
    )

    section("Pull")
    print("| backends | probes/s | failed | probe p50 ms | probe p99 ms | max ms | round p50 (max) ms | meta CPU | meta peak RSS | Raft entries in 30 s | false OFFLINE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, name in [("1,000", "pull-1k"), ("5,000", "pull-5k")]:
        runs = L(name)
        rounds = " / ".join(
            f"{get(r, 'round_ms', 'p50'):.0f} (max {get(r, 'round_ms', 'max'):.0f})" for r in runs
        )
        print(
            f"| {n} | {both(runs, thousands, 'probes_per_s')} | {both(runs, str, 'probes_failed')} "
            f"| {both(runs, sig3, 'probe_latency_ms', 'p50')} | {both(runs, sig3, 'probe_latency_ms', 'p99')} "
            f"| {both(runs, sig3, 'probe_latency_ms', 'max')} | {rounds} | {both(runs, cpu, 'meta_cpu_s')} "
            f"| {both(runs, mb, 'meta_peak_rss_mb')} | {both(runs, str, 'raft_entries_during_run')} "
            f"| {both(runs, str, 'false_offline_events')} |"
        )

    section("One metadata change reaching every host")
    print("| hosts | fetch | every host holds it | per host p50 ms | per host p99 ms | connections opened | fetch errors | meta CPU | meta peak RSS | false OFFLINE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, fetch, name in [
        ("1,000", "stream", "change-1k-stream"),
        ("1,000", "grpc", "change-1k-grpc"),
        ("10,000", "stream", "change-10k-stream"),
        ("10,000", "grpc", "change-10k-grpc"),
    ]:
        runs = L(name)
        print(
            f"| {n} | {fetch} | {both(runs, lambda x: f'{x:.2f} s', 'all_hold_it_s')} "
            f"| {both(runs, thousands, 'per_host_ms', 'p50')} | {both(runs, thousands, 'per_host_ms', 'p99')} "
            f"| {both(runs, thousands, 'connections_opened')} | {both(runs, str, 'fetch_errors')} "
            f"| {both(runs, cpu, 'meta_cpu_s')} | {both(runs, mb, 'meta_peak_rss_mb')} "
            f"| {both(runs, str, 'false_offline_events')} |"
        )

    section("From create-tag to the first accepted insert")
    print("| heartbeat interval | rounds | min ms | median ms | max ms |")
    print("|---|---|---|---|---|")
    pat = re.compile(r"(\d+) rounds: min (\d+) ms, median (\d+) ms, max (\d+) ms")
    for label, name in [("1 s (the default)", "tag-1s"), ("200 ms", "tag-200ms")]:
        found = []
        for d in dirs:
            m = pat.search((Path(d) / f"{name}.txt").read_text())
            if not m:
                raise SystemExit(f"no summary line in {d}/{name}.txt")
            found.append(m.groups())
        cols = [" / ".join(f"{int(g[i]):,}" for g in found) for i in range(4)]
        print(f"| {label} | " + " | ".join(cols) + " |")

    section("Executing a job")
    # Each job prints "job N finished: M move(s) done", then `time`'s
    # "real XmY.ZZZs": the moves and the wall time of both jobs.
    done_re = re.compile(r"job \d+ finished: (\d+) move\(s\) done\s+real\s+(\d+)m([\d.]+)s")
    jobs = []
    for d in dirs:
        found = done_re.findall((Path(d) / "jobs.txt").read_text())
        if len(found) != 2:
            raise SystemExit(f"{d}/jobs.txt: {len(found)} finished jobs with times, not 2")
        jobs.append([(int(m), round(int(mins) * 60 + float(secs))) for m, mins, secs in found])
    print("| job | moves | wall time |")
    print("|---|---|---|")
    for i, label in enumerate(
        [
            "`balance data` (off the dead host, then even out)",
            "`hosts drain` (onto a new 6th host and the rest)",
        ]
    ):
        moves = " / ".join(str(run[i][0]) for run in jobs)
        wall = " / ".join(f"{run[i][1]} s" for run in jobs)
        print(f"| {label} | {moves} | {wall} |")

    section("criterion")
    print("| benchmark | run 1 / run 2 |")
    print("|---|---|")
    time_re = re.compile(r"^(\S.*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)
    per = []
    for d in dirs:
        text = (Path(d) / "criterion.txt").read_text()
        # criterion prints a long name on its own line before "time:".
        text = re.sub(r"\n\s+time:", " time:", text)
        per.append({m.group(1).strip(): f"{m.group(2)} {m.group(3)}" for m in time_re.finditer(text)})
    for name in per[0]:
        if name not in per[1]:
            raise SystemExit(f"criterion: {name} is in run 1 only")
        print(f"| `{name}` | {per[0][name]} / {per[1][name]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
