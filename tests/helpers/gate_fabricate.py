#!/usr/bin/env python3
"""Writes a small bench directory (docs/FORMAT.md) with controlled noise, for gate_test.sh.

gate_fabricate.py OUT --seed N [--repeats R] [--noise SHARE] [--retain-more WORKLOAD=SHARE]
                      [--leak WORKLOAD] [--drop-cell KEY] [--extra-cell]

Cells: web-none-glibc-default, web-none-jemalloc-bg-decay, worker-none-glibc-default. Each
repeat's metrics are the cell's true value times (1 + noise x N(0,1)), noise 1% by default; each cell directory has
shim.txt, phases.csv and a samples.csv whose live heap is flat (or grows: --leak).
"""
import argparse
import os
import random

CELLS = {  # key: (after_rss, peak_rss, throughput, p99_ms)
    ("web", "none", "glibc", "default"): (200e6, 230e6, 9000, 40),
    ("web", "none", "jemalloc", "bg-decay"): (70e6, 260e6, 9500, 38),
    ("worker", "none", "glibc", "default"): (50e6, 60e6, 1200, 15),
}
COLUMNS = ("cell,workload,variant,allocator,config,repeat,status,idle_rss_bytes,peak_rss_bytes,"
           "after_1s_rss_bytes,after_rss_bytes,reclaimable_bytes,peak_live_bytes,after_live_bytes,"
           "throughput_rps,p50_ms,p99_ms,cpu_s,duration_s,error")


def write_cell(path, leak, after_rss):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "shim.txt"), "w") as f:
        f.write("pid=1\nmode=count\nallocator=glibc\nexit=clean\n")
    with open(os.path.join(path, "phases.csv"), "w") as f:
        f.write("phase,start_ms,end_ms\nidle,0,1000\nload,1000,5000\ncooldown,5000,8000\n")
    with open(os.path.join(path, "samples.csv"), "w") as f:
        f.write("t_ms,live_bytes,live_blocks,alloc_calls,free_calls,alloc_bytes,rss_bytes,reclaim\n")
        live = 1 << 20
        for i in range(81):
            t = i * 100
            if leak and 1000 < t <= 5000:
                live += 2 << 20  # 20 MiB/s, kept
            rss = int(after_rss) if t > 1000 else 3 << 20
            f.write("%d,%d,10,%d,%d,0,%d,\n" % (t, live, i * 1000, i * 990, max(rss, live)))
        f.write("8100,%d,10,81000,80000,0,%d,\n" % (live if leak else 4096, rss))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--retain-more", default="")
    p.add_argument("--leak", default="")
    p.add_argument("--drop-cell", default="")
    p.add_argument("--extra-cell", action="store_true")
    a = p.parse_args()
    rng = random.Random(a.seed)
    more = {}
    if a.retain_more:
        w, share = a.retain_more.split("=")
        more[w] = float(share)
    cells = dict(CELLS)
    if a.extra_cell:
        cells[("worker", "none", "jemalloc", "bg-decay")] = (30e6, 60e6, 1300, 14)
    rows = []
    for (w, v, al, c), (after, peak, rps, p99) in cells.items():
        key = "%s-%s-%s-%s" % (w, v, al, c)
        if key == a.drop_cell:
            continue
        for r in range(1, a.repeats + 1):
            name = "%s-r%d" % (key, r)
            n = lambda x: x * (1 + a.noise * rng.gauss(0, 1))
            after_r = n(after * (1 + more.get(w, 0)))
            write_cell(os.path.join(a.out, "cells", name), w == a.leak, after_r)
            rows.append("%s,%s,%s,%s,%s,%d,ok,3000000,%d,%d,%d,0,1000000,1000000,%.1f,5,%.2f,1.0,9,"
                        % (name, w, v, al, c, r, n(peak), after_r, after_r, rps and n(rps),
                           n(p99)))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        f.write('{"profile": "fabricated", "seed": %d}\n' % a.seed)
    with open(os.path.join(a.out, "results.csv"), "w") as f:
        f.write(COLUMNS + "\n" + "\n".join(rows) + "\n")


main()
