#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# report.py — turns door_bench JSON into the benchmark report: report.md
# (machine, method, targets, tables), CSV (every repeat, and the medians with
# their spread) and gnuplot PNGs (latency percentiles and throughput vs.
# payload, throughput and CPU per call vs. concurrent callers, the VM
# comparison), and the paced cells (latency and CPU per second of wall clock
# at a fixed call rate: paced.csv and a table). Standard library only; plots
# are skipped with a note when gnuplot is missing.
#
#   report.py --host host.json [--vm vm-*.json] --out DIR [--command "..."]
#
# VM files are door_bench runs inside the sched_ext guest, labelled with the
# scheduler ("default", "scx_door"); runs with the same label are pooled
# (each is one interleaved repeat). The VM console log's MIXEDBENCH lines
# (hackbench alone and beside door traffic, per scheduler and repeat) give
# the mixed-workload table, vm-mixed.csv and its target.
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess

METRICS = ["p50_us", "p99_us", "p999_us", "mean_us", "calls_per_s", "cpu_us_per_call",
           "client_cpu_us_per_call", "server_cpu_us_per_call"]
# Latency and paced cells (one caller, round trips kept in order) also count
# their runs of slow round trips (bench/stats.h).
SLOW_METRICS = ["slow_time_share", "longest_slow_run"]
LATENCY_METRICS = METRICS + SLOW_METRICS
PACED_METRICS = METRICS + ["cpu_us_per_s", "client_cpu_us_per_s", "server_cpu_us_per_s", "missed_slots"] + SLOW_METRICS
SLOW_SHARE_SHOWN = 0.10  # cells with at least this median share of their time in slow calls are listed
NAN = float("nan")


def num(v):
    return NAN if v is None else float(v)


def spread(vals):
    """(median, min, max) of the non-NaN values."""
    v = [x for x in vals if not math.isnan(x)]
    if not v:
        return (NAN, NAN, NAN)
    return (statistics.median(v), min(v), max(v))


def payload_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def fmt(v, unit=""):
    if v is None or math.isnan(v):
        return "-"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def ratio(a, b):
    return NAN if math.isnan(a) or math.isnan(b) or b == 0 else a / b


def read_mixed(log):
    """MIXEDBENCH lines of the VM console log: {label: [{field: float}]}."""
    runs = {}
    if not log or not os.path.exists(log):
        return runs
    with open(log, errors="replace") as f:
        for line in f:
            w = line.split()
            if len(w) < 3 or w[0] != "MIXEDBENCH":
                continue
            row = {"rep": w[2]}
            for kv in w[3:]:
                k, _, v = kv.partition("=")
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = NAN
            runs.setdefault(w[1], []).append(row)
    return runs


MIXED_FIELDS = ["hackbench_s", "hackbench_ipis", "hackbench_switches", "hackbench_doors_s", "door_rps"]
MIXED_TOLERANCE = 1.05  # "within a few percent" of the default scheduler


def mixed_target(mixed):
    title = (f"VM: an unrelated job beside door traffic (hackbench beside two door_call pairs) takes at most "
             f"{MIXED_TOLERANCE:.2f}x its time under the default scheduler (median, TCG)")
    d, x = mixed.get("default"), mixed.get("scx_door")
    if not d or not x:
        return (title, "SKIP", "no mixed-workload runs (hackbench from rt-tests missing, or no VM section)")
    md = spread([r.get("hackbench_doors_s", NAN) for r in d])[0]
    mx = spread([r.get("hackbench_doors_s", NAN) for r in x])[0]
    r = ratio(mx, md)
    if math.isnan(r):
        return (title, "MISS", "incomplete: a hackbench run failed")
    return (title, "PASS" if r <= MIXED_TOLERANCE else "MISS",
            f"hackbench beside door traffic {fmt(mx)} s with scx_door vs {fmt(md)} s ({r:.2f}x); door_call pairs "
            f"{fmt(spread([q.get('door_rps', NAN) for q in x])[0])} vs "
            f"{fmt(spread([q.get('door_rps', NAN) for q in d])[0])} round trips/s meanwhile")


def mixed_table(mixed):
    L = ["| scheduler | hackbench alone, s | IPIs during it | context switches during it | "
         "hackbench beside door traffic, s | slowdown from the door traffic | "
         "door_call round trips/s meanwhile (2 pairs) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, rows in mixed.items():
        st = {k: spread([r.get(k, NAN) for r in rows]) for k in MIXED_FIELDS}
        cell = lambda k: f"{fmt(st[k][0])} ({fmt(st[k][1])}-{fmt(st[k][2])})"
        L.append(f"| {label} | {cell('hackbench_s')} | {cell('hackbench_ipis')} | {cell('hackbench_switches')} | {cell('hackbench_doors_s')} | "
                 f"{ratio(st['hackbench_doors_s'][0], st['hackbench_s'][0]):.2f}x | {cell('door_rps')} |")
    return L


class Results:
    """Latency and concurrency cells of one or more door_bench runs (pooled)."""

    def __init__(self, runs):
        self.runs = runs
        self.lat = {}   # (placement, mechanism, payload) -> [sample]
        self.conc = {}  # (mechanism, callers) -> [sample]
        self.paced = {}  # (placement, mechanism, pace_us) -> [sample]
        self.errors = {}
        self.mechs = {}
        for r in runs:
            for m in r["mechanisms"]:
                self.mechs.setdefault(m["name"], m)
            for e in r["latency"]:
                k = (e["placement"], e["mechanism"], e["payload"])
                self.lat.setdefault(k, []).extend(e["samples"])
                if "error" in e:
                    self.errors[("latency",) + k] = e["error"]
            for e in r.get("paced", []):
                k = (e["placement"], e["mechanism"], e["pace_us"])
                self.paced.setdefault(k, []).extend(e["samples"])
                if "error" in e:
                    self.errors[("paced",) + k] = e["error"]
            for e in r.get("concurrency", []):
                k = (e["mechanism"], e["callers"])
                self.conc.setdefault(k, []).extend(e["samples"])
                if "error" in e:
                    self.errors[("concurrency",) + k] = e["error"]
        self.placements = list(dict.fromkeys(k[0] for k in self.lat))
        self.payloads = sorted({k[2] for k in self.lat})
        self.callers = sorted({k[1] for k in self.conc})
        self.paced_placements = list(dict.fromkeys(k[0] for k in self.paced))
        self.paces = sorted({k[2] for k in self.paced})
        self.names = [m for m in self.mechs if self.mechs[m]["available"]]
        self.paced_names = [m for m in self.names if any(k[1] == m for k in self.paced)]

    def stat(self, table, key, metric="p50_us"):
        return spread([num(s.get(metric)) for s in table.get(key, [])])

    def p50(self, pl, mech, payload, metric="p50_us"):
        return self.stat(self.lat, (pl, mech, payload), metric)[0]

    def pstat(self, pl, mech, pace, metric="p50_us"):
        """Median of a paced cell's metric across repeats."""
        return self.stat(self.paced, (pl, mech, pace), metric)[0]

    def role(self, mech):
        return self.mechs.get(mech, {}).get("role", "blocking")


# ---- targets ---------------------------------------------------------------
def large_payload_target(host, mech, title):
    """(title, verdict, detail): `mech` within 1.3x of shm_memcpy at >= 64 KiB."""
    parts, verdict = [], "SKIP"
    for pl in host.placements:
        for p in [p for p in host.payloads if p >= 65536]:
            d, m = host.p50(pl, mech, p), host.p50(pl, "shm_memcpy", p)
            r = ratio(d, m)
            if math.isnan(r):
                continue
            verdict = "PASS" if verdict in ("SKIP", "PASS") and r <= 1.3 else "MISS"
            parts.append(f"{pl} {payload_name(p)} {fmt(d)}/{fmt(m)} us = {r:.2f}x" + ("" if r <= 1.3 else " (over)"))
    return (title, verdict, "; ".join(parts))


def targets(host, vm_by_label, mixed):
    out = []
    # 1. fastest blocking mechanism everywhere. A cell counts as slower only
    # when door_call's p50 is above the other's in every repeat (the min-max
    # ranges across repeats do not overlap); a lower median with overlapping
    # ranges is listed as within the noise of this machine, not hidden.
    worse, noise, checked = [], [], 0
    for pl in host.placements:
        for p in host.payloads:
            d, d_lo, _ = host.stat(host.lat, (pl, "door_call", p))
            others = [(host.p50(pl, m, p), m) for m in host.names
                      if m != "door_call" and host.role(m) == "blocking"]
            others = [o for o in others if not math.isnan(o[0])]
            if math.isnan(d) or not others:
                continue
            checked += 1
            beaten = sorted(o for o in others if o[0] < d)
            if not beaten:
                continue
            clear = [o for o in beaten if host.stat(host.lat, (pl, o[1], p))[2] < d_lo]
            best, who = (clear or beaten)[0]
            line = f"{pl} {payload_name(p)}: {who} {fmt(best)} us vs door_call {fmt(d)} us ({ratio(d, best):.2f}x)"
            (worse if clear else noise).append(line)
    detail = f"{checked} cells checked"
    if worse:
        detail += f"; slower in every repeat in {len(worse)}: " + "; ".join(worse)
    if noise:
        detail += (f"; a lower median but overlapping repeats (noise) in {len(noise)}: " + "; ".join(noise))
    out.append(("door_call is the fastest blocking mechanism (p50) for every payload and placement, beyond the "
                "spread of repeats", "SKIP" if not checked else ("PASS" if not worse else "MISS"), detail))
    # 2. same-CPU 8 B vs raw futex
    d, f = host.p50("same-cpu", "door_call", 8), host.p50("same-cpu", "futex", 8)
    r = ratio(d, f)
    out.append(("same-CPU 8 B door_call p50 <= 1.15x futex",
                "SKIP" if math.isnan(r) else ("PASS" if r <= 1.15 else "MISS"),
                f"{fmt(d)} us / {fmt(f)} us = {r:.2f}x"))
    # 3. cross-CPU hot server vs the busy-poll floor, and its CPU cost
    d, b = host.p50("cross-cpu", "door_call", 8), host.p50("cross-cpu", "busypoll", 8)
    dc = host.p50("cross-cpu", "door_call", 8, "cpu_us_per_call")
    bc = host.p50("cross-cpu", "busypoll", 8, "cpu_us_per_call")
    r, rc = ratio(d, b), ratio(dc, bc)
    ok = not math.isnan(r) and r <= 2.0 and not math.isnan(rc) and rc < 1.0
    out.append(("cross-CPU 8 B door_call (hot server) p50 <= 2x busy-poll floor, at a fraction of its CPU",
                "SKIP" if math.isnan(r) else ("PASS" if ok else "MISS"),
                f"latency {fmt(d)} us / {fmt(b)} us = {r:.2f}x; CPU per call {fmt(dc)} us / {fmt(bc)} us "
                f"= {rc:.2f}x of busy-poll's (back-to-back calls; both processes' CPU clocks)"
                + ("" if math.isnan(rc) or rc < 1.0 else
                   ". Back to back, both sides of both mechanisms spin through every call, so CPU per call "
                   "is about twice the mean round trip, and the slower mechanism spends more; what busy-poll "
                   "burns between calls shows in the paced row below")))
    # 3b. the same on the paced cells: one call every P us, the caller asleep
    # in between, so what each side burns between calls is charged
    parts, verdict = [], "SKIP"
    for pace in host.paces:
        d, b = host.pstat("cross-cpu", "door_call", pace), host.pstat("cross-cpu", "busypoll", pace)
        dc = host.pstat("cross-cpu", "door_call", pace, "cpu_us_per_s")
        bc = host.pstat("cross-cpu", "busypoll", pace, "cpu_us_per_s")
        r, rc = ratio(d, b), ratio(dc, bc)
        if math.isnan(r) or math.isnan(rc):
            continue
        good = r <= 2.0 and rc < 1.0
        verdict = "PASS" if verdict in ("SKIP", "PASS") and good else "MISS"
        parts.append(f"1 call / {pace} us: latency {fmt(d)} / {fmt(b)} us = {r:.2f}x"
                     + ("" if r <= 2.0 else " (over 2x)")
                     + f", CPU {dc / 1e6:.3f} / {bc / 1e6:.3f} CPUs busy = {rc:.2f}x of busy-poll's"
                     + ("" if rc < 1.0 else " (not a fraction)")
                     + f" (achieved {fmt(host.pstat('cross-cpu', 'door_call', pace, 'calls_per_s'))} and "
                     f"{fmt(host.pstat('cross-cpu', 'busypoll', pace, 'calls_per_s'))} calls/s)")
    out.append(("cross-CPU 8 B door_call p50 <= 2x busy-poll floor at a fraction (< 1x) of its CPU, "
                "paced calls (CPU of both processes per second of wall clock)",
                verdict, "; ".join(parts) if parts else "no paced cross-CPU door_call and busypoll cells"))
    # 4. large payloads vs the memcpy-bound baseline; 4b. the same with the
    # opt-in DOOR_ARGS_IN_PLACE_NP (one copy fewer)
    out.append(large_payload_target(host, "door_call", "64 KiB and 1 MiB door_call p50 within 1.3x of the "
                                    "memcpy-bound shm baseline"))
    out.append(large_payload_target(host, "door_call_inplace", "opt-in DOOR_ARGS_IN_PLACE_NP: 64 KiB and 1 MiB "
                                    "door_call_inplace p50 within 1.3x of the shm baseline"))
    # 5. VM: door_call with scx_door vs binder and vs door_call without scx_door
    dflt, scx = vm_by_label.get("default"), vm_by_label.get("scx_door")
    if not dflt or not scx:
        out.append(("VM: door_call with scx_door beats binder and door_call without scx_door", "SKIP",
                    "no VM results (bench/run.sh --no-vm, or the VM section failed)"))
    else:
        parts, verdict = [], "PASS"
        for pl in scx.placements:
            for p in scx.payloads:
                s = scx.p50(pl, "door_call", p)
                dd = dflt.p50(pl, "door_call", p)
                bs = [x for x in (dflt.p50(pl, "binder", p), scx.p50(pl, "binder", p)) if not math.isnan(x)]
                if math.isnan(s) or math.isnan(dd) or not bs:
                    verdict = "MISS" if verdict == "PASS" and math.isnan(s) else verdict
                    parts.append(f"{pl} {payload_name(p)}: incomplete")
                    continue
                b = min(bs)
                good = s < b and s < dd
                verdict = verdict if good else "MISS"
                parts.append(f"{pl} {payload_name(p)}: scx_door {fmt(s)} us vs binder {fmt(b)} us "
                             f"({ratio(s, b):.2f}x), vs default {fmt(dd)} us ({ratio(s, dd):.2f}x)")
        out.append(("VM: door_call with scx_door beats binder and door_call without scx_door (p50, TCG)",
                    verdict, "; ".join(parts)))
    # 6. VM saturation: at least as many callers as CPUs, scx_door must not lose calls/s
    if dflt and scx:
        cpus = int(scx.runs[0]["machine"].get("cpus_online") or 1)
        busy = [n for n in scx.callers if n >= cpus and n in dflt.callers]
        parts, verdict = [], ("PASS" if busy else "SKIP")
        for n in busy:
            s = scx.stat(scx.conc, ("door_call", n), "calls_per_s")[0]
            d = dflt.stat(dflt.conc, ("door_call", n), "calls_per_s")[0]
            if math.isnan(s) or math.isnan(d):
                verdict = "MISS"
                parts.append(f"{n} callers: incomplete")
                continue
            verdict = verdict if s >= d else "MISS"
            parts.append(f"{n} callers: {fmt(s)}/s with scx_door vs {fmt(d)}/s ({s / d:.2f}x)")
        out.append((f"VM: door_call with scx_door never worse at saturation (>= {cpus} callers on {cpus} CPUs, "
                    "calls/s, TCG)", verdict, "; ".join(parts) or "no VM throughput sweep"))
    # 7. VM mixed workload: unrelated tasks must not suffer
    if dflt and scx:
        out.append(mixed_target(mixed))
    return out


# ---- CSV -------------------------------------------------------------------
def write_csv(out, host, vms):
    with open(os.path.join(out, "latency.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scope", "label", "placement", "mechanism", "role", "payload", "repeat"] + LATENCY_METRICS
                   + ["iters"])
        for scope, label, res in [("host", "", host)] + [("vm", l, r) for l, r in vms.items()]:
            for (pl, m, p), samples in res.lat.items():
                for i, s in enumerate(samples):
                    w.writerow([scope, label, pl, m, res.role(m), p, i + 1] + [s.get(k) for k in LATENCY_METRICS]
                               + [s.get("iters")])
    with open(os.path.join(out, "concurrency.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scope", "label", "mechanism", "role", "callers", "repeat"] + METRICS + ["calls"])
        for scope, label, res in [("host", "", host)] + [("vm", l, r) for l, r in vms.items()]:
            for (m, n), samples in res.conc.items():
                for i, s in enumerate(samples):
                    w.writerow([scope, label, m, res.role(m), n, i + 1] + [s.get(k) for k in METRICS] + [s.get("iters")])
    with open(os.path.join(out, "paced.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scope", "label", "placement", "mechanism", "role", "payload", "pace_us", "repeat"]
                   + PACED_METRICS + ["iters"])
        for scope, label, res in [("host", "", host)] + [("vm", l, r) for l, r in vms.items()]:
            for (pl, m, pace), samples in res.paced.items():
                payload = res.runs[0]["config"].get("paced_payload", 8)
                for i, s in enumerate(samples):
                    w.writerow([scope, label, pl, m, res.role(m), payload, pace, i + 1]
                               + [s.get(k) for k in PACED_METRICS] + [s.get("iters")])
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        cols = []
        for k in METRICS:
            cols += [k + "_median", k + "_min", k + "_max"]
        w.writerow(["scope", "label", "kind", "placement", "mechanism", "payload", "callers", "repeats"] + cols)
        for scope, label, res in [("host", "", host)] + [("vm", l, r) for l, r in vms.items()]:
            for (pl, m, p), samples in res.lat.items():
                row = []
                for k in METRICS:
                    row += list(res.stat(res.lat, (pl, m, p), k))
                w.writerow([scope, label, "latency", pl, m, p, 1, len(samples)] + row)
            for (m, n), samples in res.conc.items():
                row = []
                for k in METRICS:
                    row += list(res.stat(res.conc, (m, n), k))
                w.writerow([scope, label, "concurrency", "unpinned", m, res.runs[0]["config"]["conc_payload"], n,
                            len(samples)] + row)


# ---- plots -----------------------------------------------------------------
def gp_escape(s):
    return s.replace("_", "\\_")


def lw(name):
    """door_call stands out in every plot."""
    return " lw 3" if name.startswith("door_call") else ""


def plots(out, host, vms):
    """Writes the .dat files and the gnuplot script; returns the PNG names (or [] without gnuplot)."""
    d = os.path.join(out, "plots")
    os.makedirs(d, exist_ok=True)
    script = ["set terminal pngcairo size 1800,560 font ',10'", "set grid", "set key outside right",
              "set logscale x 2", "set logscale y"]
    pngs = []

    def dat(name, rows):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            for r in rows:
                f.write(" ".join("nan" if (isinstance(x, float) and math.isnan(x)) else str(x) for x in r) + "\n")
        return path

    xt = "set xtics (" + ", ".join(f"'{payload_name(p)}' {p}" for p in host.payloads) + ")"
    for pl in host.placements:
        files = []
        for m in host.names:
            rows = [[p] + [host.p50(pl, m, p, k) for k in ("p50_us", "p99_us", "p999_us", "calls_per_s",
                                                             "cpu_us_per_call")] for p in host.payloads]
            files.append((m, dat(f"lat_{pl}_{m}.dat", rows)))
        png = f"latency_{pl}.png"
        script += [f"set output '{os.path.join(d, png)}'", xt, "set xlabel 'payload'",
                   f"set multiplot layout 1,3 title 'round-trip latency, {pl} (median of repeats)'"]
        for col, t in ((2, "p50"), (3, "p99"), (4, "p99.9")):
            script += [f"set title '{t}'", "set ylabel 'us'",
                       "plot " + ", ".join(f"'{f}' using 1:{col} with linespoints{lw(m)} title '{gp_escape(m)}'"
                                           for m, f in files)]
        script += ["unset multiplot"]
        pngs.append(png)
    # calls/s and CPU per call (one caller) vs payload, one panel per placement
    for png, col, title, ylabel in () if not host.placements else (("throughput_payload.png", 5, "calls/s of one caller vs payload", "calls/s"),
                                    ("cpu_payload.png", 6, "CPU time per call (client + server) vs payload",
                                     "CPU us per call")):
        script += [f"set output '{os.path.join(d, png)}'", xt,
                   f"set multiplot layout 1,{len(host.placements)} title '{title}'"]
        for pl in host.placements:
            script += [f"set title '{pl}'", f"set ylabel '{ylabel}'",
                       "plot " + ", ".join(f"'{os.path.join(d, f'lat_{pl}_{m}.dat')}' using 1:{col} with "
                                           f"linespoints{lw(m)} title '{gp_escape(m)}'" for m in host.names)]
        script += ["unset multiplot"]
        pngs.append(png)
    # concurrency
    if host.callers:
        files = []
        for m in host.names:
            rows = [[n, host.stat(host.conc, (m, n), "calls_per_s")[0], host.stat(host.conc, (m, n), "cpu_us_per_call")[0]]
                    for n in host.callers]
            files.append((m, dat(f"conc_{m}.dat", rows)))
        png = "throughput_callers.png"
        script += [f"set output '{os.path.join(d, png)}'", "unset logscale x", "set xtics 1",
                   "set xlabel 'concurrent callers (processes, unpinned)'",
                   "set multiplot layout 1,2 title 'throughput vs concurrent callers "
                   f"({payload_name(host.runs[0]['config']['conc_payload'])} payload, median of repeats)'",
                   "set title 'calls/s (all callers)'", "set ylabel 'calls/s'",
                   "plot " + ", ".join(f"'{f}' using 1:2 with linespoints{lw(m)} title '{gp_escape(m)}'" for m, f in files),
                   "set title 'CPU time per call'", "set ylabel 'CPU us per call'",
                   "plot " + ", ".join(f"'{f}' using 1:3 with linespoints{lw(m)} title '{gp_escape(m)}'" for m, f in files),
                   "unset multiplot", "set logscale x 2"]
        pngs.append(png)
    # VM comparison
    if vms:
        any_vm = next(iter(vms.values()))
        series = []
        for label, res in vms.items():
            for m in res.names:
                for pl in res.placements:
                    rows = [[p, res.p50(pl, m, p)] for p in res.payloads]
                    series.append((f"{m} ({label}, {pl})", dat(f"vm_{label}_{m}_{pl}.dat", rows)))
        png = "vm_latency.png"
        script += [f"set output '{os.path.join(d, png)}'", "set terminal pngcairo size 1100,560 font ',10'",
                   "set xtics (" + ", ".join(f"'{payload_name(p)}' {p}" for p in any_vm.payloads) + ")",
                   "set xlabel 'payload'", "set ylabel 'p50 us (TCG: indicative only)'",
                   "set title 'sched\\_ext VM (QEMU TCG): round-trip p50, same boot'",
                   "plot " + ", ".join(f"'{f}' using 1:2 with linespoints{lw(t)} title '{gp_escape(t)}'" for t, f in series)]
        pngs.append(png)
    with open(os.path.join(d, "plots.gp"), "w") as f:
        f.write("\n".join(script) + "\n")
    if not shutil.which("gnuplot"):
        return []
    r = subprocess.run(["gnuplot", os.path.join(d, "plots.gp")], capture_output=True, text=True)
    if r.returncode != 0:
        print("report.py: gnuplot failed:\n" + r.stderr)
        return []
    return [os.path.join("plots", p) for p in pngs]


# ---- markdown --------------------------------------------------------------
def machine_table(m):
    keys = [("cpu_model", "CPU"), ("cpus_online", "CPUs online"), ("cpus_allowed", "CPUs used"),
            ("smt_active", "SMT active"), ("kernel", "kernel"), ("hypervisor", "virtualised"),
            ("cpufreq_driver", "cpufreq driver"), ("cpufreq_governor", "cpufreq governor"),
            ("cpuidle_driver", "cpuidle driver"), ("cpuidle_governor", "cpuidle governor"),
            ("sched_ext", "sched_ext state/ops"), ("cmdline", "kernel command line"),
            ("loadavg_start", "load average at start"), ("loadavg_end", "load average at end"),
            ("date_utc", "date")]
    lines = ["| | |", "| --- | --- |"]
    for k, t in keys:
        if k in m:
            v = m[k]
            lines.append(f"| {t} | `{v}` |")
    return lines


def latency_tables(res, names=None):
    lines = []
    for pl in res.placements:
        lines += [f"#### {pl}", "",
                  "| mechanism | payload | p50 us | p50 spread | p99 us | p99.9 us | calls/s | CPU us/call "
                  "(client + server) | door_call p50 / this |",
                  "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |"]
        for p in res.payloads:
            d = res.p50(pl, "door_call", p)
            for m in names or res.names:
                key = (pl, m, p)
                if ("latency",) + key in res.errors:
                    lines.append(f"| {m} | {payload_name(p)} | ERROR: {res.errors[('latency',) + key]} | | | | | | |")
                    continue
                med, lo, hi = res.stat(res.lat, key, "p50_us")
                c = res.stat(res.lat, key, "client_cpu_us_per_call")[0]
                s = res.stat(res.lat, key, "server_cpu_us_per_call")[0]
                lines.append(f"| {m} | {payload_name(p)} | {fmt(med)} | {fmt(lo)}–{fmt(hi)} | "
                             f"{fmt(res.stat(res.lat, key, 'p99_us')[0])} | {fmt(res.stat(res.lat, key, 'p999_us')[0])} | "
                             f"{fmt(res.stat(res.lat, key, 'calls_per_s')[0])} | "
                             f"{fmt(res.stat(res.lat, key, 'cpu_us_per_call')[0])} ({fmt(c)} + {fmt(s)}) | "
                             f"{'' if m == 'door_call' else fmt(ratio(d, med)) + 'x'} |")
        lines.append("")
    return lines


def slow_runs_section(res):
    """Cells whose round trips came in runs of slow ones (bench/stats.h)."""
    rows = []
    for (pl, m, p), samples in res.lat.items():
        share = res.stat(res.lat, (pl, m, p), "slow_time_share")
        if math.isnan(share[0]) or share[0] < SLOW_SHARE_SHOWN:
            continue
        longest = max((num(x.get("longest_slow_run")) for x in samples), default=NAN)
        rows.append((share[0], pl, m, p, share, longest))
    L = ["## Runs of slow round trips (host)", "",
         "A round trip counts as slow above ten times its cell's p50, and at least 10 us. Cells are listed "
         f"where they took {SLOW_SHARE_SHOWN:.0%} or more of the time (median of the repeats). Where the "
         "share is large, a few runs of slow calls hold most of the cell's time, and its mean, calls/s and CPU "
         "per call describe those runs more than a typical call; p50 is the figure to compare. On a host that "
         "halts an idle vCPU at once, two peers that spin for each other and both fell asleep wake each other "
         "for every call (each wake-up tens of us) until one spins long enough again (README, \"Runs of slow "
         "calls\").", ""]
    if not rows:
        return L + ["No cell reached that share.", ""]
    L += ["| placement | mechanism | payload | time in slow round trips (median, range) | longest run "
          "(round trips, most of any repeat) | p50 us | mean us |",
          "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for _, pl, m, p, (med, lo, hi), longest in sorted(rows, key=lambda r: (r[1], -r[0])):
        L.append(f"| {pl} | {m} | {payload_name(p)} | {med:.0%} ({lo:.0%}–{hi:.0%}) | "
                 f"{'-' if math.isnan(longest) else f'{longest:,.0f}'} | "
                 f"{fmt(res.p50(pl, m, p))} | {fmt(res.p50(pl, m, p, 'mean_us'))} |")
    return L + [""]


def paced_tables(res):
    lines = []
    for pl in res.paced_placements:
        lines += [f"#### {pl}", "",
                  "| mechanism | one call every | p50 us | p50 spread | p99 us | calls/s | missed slots | "
                  "CPU us/call (client + server) | CPUs kept busy (CPU us per s of wall clock) | "
                  "CPU / busy-poll's | door_call p50 / this |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for pace in res.paces:
            d = res.pstat(pl, "door_call", pace)
            bc = res.pstat(pl, "busypoll", pace, "cpu_us_per_s")
            for m in res.paced_names:
                key = (pl, m, pace)
                if ("paced",) + key in res.errors:
                    lines.append(f"| {m} | {pace} us | ERROR: {res.errors[('paced',) + key]} | | | | | | | | |")
                    continue
                if key not in res.paced:
                    continue
                med, lo, hi = res.stat(res.paced, key, "p50_us")
                cpu = res.pstat(pl, m, pace, "cpu_us_per_s")
                lines.append(
                    f"| {m} | {pace} us | {fmt(med)} | {fmt(lo)}–{fmt(hi)} | {fmt(res.pstat(pl, m, pace, 'p99_us'))} | "
                    f"{fmt(res.pstat(pl, m, pace, 'calls_per_s'))} | {fmt(res.pstat(pl, m, pace, 'missed_slots'))} | "
                    f"{fmt(res.pstat(pl, m, pace, 'cpu_us_per_call'))} "
                    f"({fmt(res.pstat(pl, m, pace, 'client_cpu_us_per_call'))} + "
                    f"{fmt(res.pstat(pl, m, pace, 'server_cpu_us_per_call'))}) | "
                    f"{'-' if math.isnan(cpu) else f'{cpu / 1e6:.3f}'} ({fmt(cpu)}) | "
                    f"{'' if m == 'busypoll' else fmt(ratio(cpu, bc)) + 'x'} | "
                    f"{'' if m == 'door_call' else fmt(ratio(d, med)) + 'x'} |")
        lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--vm", nargs="*", default=[])
    ap.add_argument("--vm-log", default="", help="VM console log (referenced from the report)")
    ap.add_argument("--vm-note", default="", help="why the VM section is missing, if it is")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(a.host) as f:
        hj = json.load(f)
    host = Results([hj])
    vm_runs = {}
    for path in a.vm:
        with open(path) as f:
            j = json.load(f)
        vm_runs.setdefault(j.get("label") or "default", []).append(j)
    vms = {l: Results(r) for l, r in vm_runs.items()}
    mixed = read_mixed(a.vm_log)

    write_csv(a.out, host, vms)
    if mixed:
        with open(os.path.join(a.out, "vm-mixed.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["scheduler", "repeat"] + MIXED_FIELDS)
            for label, rows in mixed.items():
                for r in rows:
                    w.writerow([label, r["rep"]] + [r.get(k, NAN) for k in MIXED_FIELDS])
    pngs = plots(a.out, host, vms)
    tg = targets(host, vms, mixed)
    cfg = hj["config"]

    L = [f"# Linux doors benchmark report", "",
         f"Generated by `{a.command}` on {hj['machine'].get('date_utc', '?')}, libdoor {hj.get('libdoor', '?')}. "
         f"Every number below was measured in this run; CSV: `latency.csv`, `concurrency.csv` (every repeat), "
         f"`summary.csv` (medians, min, max); raw JSON: `host.json`" + (", `vm-*.json`" if a.vm else "") + ".", ""]
    L += ["## Targets", "", "| target | verdict | measured |", "| --- | --- | --- |"]
    for name, verdict, detail in tg:
        L.append(f"| {name} | **{verdict}** | {detail} |")
    L += ["", "Where door_call is not the fastest, the likely causes (design facts, not measured here): on one "
          "CPU a pipe, eventfd or socket wake-up carries the kernel's synchronous-wake hint (WF_SYNC) and a "
          "futex wake does not, so the woken side may not run at once; door_call copies a slot-sized payload "
          "four times (the 4-copy shm baselines do the same), and above the 128 KiB slot the server still "
          "copies the arguments out of the client's bulk area into private memory (the opt-in "
          "DOOR_ARGS_IN_PLACE_NP removes that copy). Across CPUs door_call spins adaptively (never on a shared "
          "CPU), as futex_spin does, and the mechanisms that sleep pay a cross-CPU wake-up; what door_call does "
          "beyond futex_spin's bare word per call (finding the door from its descriptor, claiming the call so "
          "that one interrupted by a signal is either withdrawn or run exactly once, per-door statistics) shows "
          "in the cross-CPU 8 B rows. In the paced cells a server thread that slept runs a cold call path, even "
          "when it was woken in time to catch the call by spinning (anticipation, userspace/"
          "arrival_predictor.h): about 1 us more than a hot one on the machine this was developed on, where "
          "busy-poll's server never leaves its loop.", ""]
    L += ["## Machine", ""] + machine_table(hj["machine"]) + [""]
    L += ["## Method", "",
          f"- Mechanisms (all request/reply between two processes; the server is forked per cell and echoes the "
          f"payload):", ""]
    for m in hj["mechanisms"]:
        L.append(f"  - `{m['name']}` ({m['role']}): {m['description']}" +
                 ("" if m["available"] else f" — **not run on the host: {m['unavailable']}**"))
    L += ["",
          f"- Placements: same CPU (client and server pinned to one CPU), cross CPU (pinned to two different "
          f"CPUs), unpinned. Payloads: {', '.join(payload_name(p) for p in cfg['payloads'])} (request and reply "
          f"of that size; the first and last 8 bytes of every reply are checked).",
          f"- Each latency cell runs in a fresh process: server start, {cfg['warmup']} warm-up round trips, then "
          f"up to {cfg['iters']} timed round trips (at least {cfg['min_iters']}, time cap {cfg['cell_ms']} ms), "
          f"each timed with CLOCK_MONOTONIC; p50/p99/p99.9 are nearest-rank percentiles of that cell.",
          f"- CPU time per call: the POSIX CPU clocks (all threads) of the client and of the server process "
          f"over the timed part, divided by the calls. Spinning shows up here.",
          (f"- Paced cells: {', '.join(f'`{m}`' for m in cfg['paced_mechanisms'])}, "
           f"{payload_name(cfg['paced_payload'])}, same and cross CPU, one round trip every "
           f"{' or '.join(str(p) for p in cfg['pace_us'])} us released at absolute CLOCK_MONOTONIC deadlines "
           f"(clock_nanosleep, timer slack 1 ns; the caller sleeps in between), 20 paced warm-up calls, the "
           f"same count and time cap as the latency cells. CPU is also given per second of wall clock "
           f"(1,000,000 us/s = one CPU kept busy), which charges what a mechanism burns between calls."
           if cfg.get("pace_us") else "- Paced cells: not run."),
          f"- Throughput: 1..{max(cfg['callers'] or [0])} caller processes (unpinned, one channel each; one server "
          f"process serving all), {cfg['conc_payload']} B payload, calls counted in a {cfg['conc_ms']} ms window "
          f"after a warm-up.",
          f"- {cfg['repeats']} repeats, interleaved: repeat 1 runs every cell of every mechanism, then repeat "
          f"2, ... (mechanism order rotated per repeat), so baselines and door_call see the same disturbances. "
          f"Tables show the median across repeats of each cell's value (medians of medians) and, for p50, its "
          f"spread (min–max across repeats).",
          f"- Run time {hj['elapsed_s']:.0f} s" + (" (`--quick`: fewer repeats and round trips; same table)"
                                                   if cfg.get("quick") else "") + ".", ""]
    L += ["## Latency (host)", ""]
    L += [f"![latency {pl}]({p})" for pl, p in zip(host.placements, [p for p in pngs if "latency_" in p])] + [""]
    L += latency_tables(host)
    L += slow_runs_section(host)
    if host.paced:
        L += ["## Paced calls: latency and CPU cost at a fixed call rate (host)", "",
              "Back-to-back round trips keep every mechanism hot, and there door_call and busy-poll both "
              "spin, so their CPU per call looks alike. Here the caller sleeps between calls: busy-poll's "
              "server keeps spinning (about one CPU whatever the rate), door_call spins adaptively (at most "
              "50 us by default) and then sleeps in FUTEX_WAIT; once the calls come at a steady rate, the "
              "server thread sleeps on a timer set for just before the next call is due and spins only across "
              "the window where it may arrive (anticipation; it never spins more than half the gap). "
              "\"CPUs kept busy\" is client + server CPU "
              "time per second of wall clock; it includes the caller's own sleep and timer wake-up, the same for "
              "every mechanism. \"missed slots\" counts slots skipped because the previous call (or the "
              "caller's wake-up) ran past them: where there are many, calls/s is below the nominal rate and "
              "the mechanisms' CPU per second is compared at different rates (compare CPU per call too).", ""]
        L += paced_tables(host)
    L += ["## Throughput vs payload and CPU per call (host, one caller)", ""]
    L += [f"![{os.path.basename(p)}]({p})" for p in pngs if "_payload" in p] + [""]
    if host.callers:
        L += ["## Throughput vs concurrent callers (host)", ""]
        L += [f"![throughput vs callers]({p})" for p in pngs if "callers" in p] + [""]
        L += ["| mechanism | " + " | ".join(f"{n} caller{'s' if n > 1 else ''}" for n in host.callers) + " |",
              "| --- | " + " | ".join("---:" for _ in host.callers) + " |"]
        for m in host.names:
            cells = []
            for n in host.callers:
                if ("concurrency", m, n) in host.errors:
                    cells.append("ERROR")
                    continue
                c = host.stat(host.conc, (m, n), "calls_per_s")[0]
                u = host.stat(host.conc, (m, n), "cpu_us_per_call")[0]
                cells.append(f"{fmt(c)}/s, {fmt(u)} us CPU")
            L.append(f"| {m} | " + " | ".join(cells) + " |")
        L += ["", "calls/s is the sum over all callers (median of repeats); CPU per call sums every caller and "
              "the server.", ""]
    L += ["## sched_ext VM: door_call with and without scx_door, and binder", ""]
    if vms:
        any_vm = next(iter(vms.values()))
        L += ["Inside QEMU (TCG, `thread=multi`) running Debian's sched_ext kernel with `binder_linux` loaded, "
              "all in one boot: " + ", ".join(f"{l} ({len(r.runs)} interleaved runs)" for l, r in vms.items()) +
              ". Guest machine:", ""] + machine_table(any_vm.runs[0]["machine"]) + [""]
        L += ["sched_ext state during each label's runs: " + "; ".join(
            f"{l}: `{r.runs[0]['machine'].get('sched_ext', '?')}`" for l, r in vms.items()) + ".", ""]
        if a.vm_log and os.path.exists(a.vm_log):
            with open(a.vm_log, errors="replace") as f:
                stats = [l.strip() for l in f if l.startswith("BENCHSCX ")]
            if stats:
                L += ["scx_door's counters at the end of each scx_door run (handoffs = wake-ups placed on the "
                      "waker's CPU):", "", "```"] + stats + ["```", ""]
        L += [f"![vm]({p})" for p in pngs if "vm_" in p] + [""]
        for label, res in vms.items():
            L += [f"### scheduler: {label}", ""] + latency_tables(res)
        if any(r.callers for r in vms.values()):
            L += ["### Saturation: calls/s vs concurrent callers (unpinned, 8 B)", "",
                  "| mechanism | scheduler | " + " | ".join(f"{n} caller{'s' if n > 1 else ''}"
                                                        for n in any_vm.callers) + " |",
                  "| --- | --- | " + " | ".join("---:" for _ in any_vm.callers) + " |"]
            for m in any_vm.names:
                for label, res in vms.items():
                    cells = []
                    for n in any_vm.callers:
                        c = res.stat(res.conc, (m, n), "calls_per_s")[0]
                        u = res.stat(res.conc, (m, n), "cpu_us_per_call")[0]
                        cells.append("ERROR" if ("concurrency", m, n) in res.errors else f"{fmt(c)}/s, {fmt(u)} us CPU")
                    L.append(f"| {m} | {label} | " + " | ".join(cells) + " |")
            L += ["", "Each caller is a process calling back to back; with at least as many callers as vCPUs every "
                  "CPU is busy, the case where the handoff must not cost throughput.", ""]
        if mixed:
            L += ["### Mixed workload: an unrelated job beside door traffic", "",
                  "In each scheduler's turn of every repeat: `hackbench --pipe --groups 2` (rt-tests; 80 processes "
                  "passing messages over pipes) alone, then again beside two door_call ping-pong pairs (client "
                  "and server processes, back to back) that run until it finishes. Median of the repeats (range); "
                  "every repeat in `vm-mixed.csv`.", ""] + mixed_table(mixed) + [""]
        if a.vm_log:
            L += [f"Console log: `{os.path.basename(a.vm_log)}`.", ""]
        L += ["**What TCG figures can and cannot show.** TCG emulates every instruction in software: a guest "
              "microsecond is not a hardware microsecond, costs are distorted unevenly (an address-space switch "
              "flushes the emulated TLB, so switching between two processes is far dearer than on hardware with "
              "PCID; cross-vCPU wake-ups go through host threads under MTTCG), and the host's own load leaks in. "
              "So the absolute microseconds and the size of a ratio are indicative only. What the VM does show: "
              "the ordering of mechanisms measured in the same boot under the same emulation, whether the "
              "scx_door handoff shortens the path (fewer wake-ups across vCPUs, fewer IPIs), and that door_call, "
              "binder and the scheduler work together on a real sched_ext kernel. Hardware numbers need a "
              "sched_ext kernel on bare metal (or KVM).", ""]
    else:
        L += ["Not run: " + (a.vm_note or "no VM results given."), ""]
    if host.errors:
        L += ["## Errors", ""] + [f"- {' '.join(map(str, k))}: {v}" for k, v in host.errors.items()] + [""]
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print(os.path.join(a.out, "report.md"))
    for name, verdict, detail in tg:
        print(f"{verdict:4}  {name}")


if __name__ == "__main__":
    main()
