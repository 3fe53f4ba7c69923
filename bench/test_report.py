#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# test_report.py — checks bench/report.py: the mixed-workload lines of the
# VM console log are parsed, judged and tabled, the cells that lost their
# time to runs of slow calls are listed, and a whole report is written from
# real door_bench JSON (the door_bench_smoke run's, whose path is the first
# argument; the same JSON stands in for the VM runs).
#
#   test_report.py SMOKE_JSON
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

SMOKE_JSON = ""

LOG = """[    1.0] random kernel line
MIXEDBENCH default 1 hackbench_s=2.0 hackbench_ipis=290 hackbench_switches=20000 hackbench_doors_s=2.2 door_rps=3000
BENCHSCX 1 [scx_door] wakeups: 10 handoffs: 5
MIXEDBENCH scx_door 1 hackbench_s=1.0 hackbench_ipis=170 hackbench_switches=2000 hackbench_doors_s=1.1 door_rps=5000
MIXEDBENCH default 2 hackbench_s=2.4 hackbench_ipis=250 hackbench_switches=24000 hackbench_doors_s=2.6 door_rps=2600
MIXEDBENCH scx_door 2 hackbench_s=0.9 hackbench_ipis=180 hackbench_switches=2100 hackbench_doors_s=nan door_rps=4000
MIXEDBENCH scx_door 3 hackbench_s=0.8 hackbench_ipis=160 hackbench_switches=2200 hackbench_doors_s=1.3 door_rps=6000
"""


def rows(beside):
    return [{"rep": str(i), "hackbench_doors_s": b, "door_rps": 1000.0} for i, b in enumerate(beside)]


class MixedWorkload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.dir.name, "vm-console.log")
        with open(self.log, "w") as f:
            f.write(LOG)

    def tearDown(self):
        self.dir.cleanup()

    def test_parses_only_mixedbench_lines(self):
        m = report.read_mixed(self.log)
        self.assertEqual(sorted(m), ["default", "scx_door"])
        self.assertEqual(len(m["default"]), 2)
        self.assertEqual(len(m["scx_door"]), 3)
        self.assertEqual(m["default"][1]["hackbench_switches"], 24000)
        self.assertTrue(math.isnan(m["scx_door"][1]["hackbench_doors_s"]))

    def test_missing_log_gives_nothing(self):
        self.assertEqual(report.read_mixed(os.path.join(self.dir.name, "none.log")), {})
        self.assertEqual(report.read_mixed(""), {})

    def test_verdicts(self):
        # medians of the repeats, compared against MIXED_TOLERANCE
        _, v, detail = report.mixed_target({"default": rows([2.0, 2.2, 2.4]),
                                            "scx_door": rows([2.0, 2.3, 9.0])})
        self.assertEqual(v, "PASS", detail)  # 2.3 / 2.2 = 1.045
        _, v, detail = report.mixed_target({"default": rows([2.0]), "scx_door": rows([2.2])})
        self.assertEqual(v, "MISS", detail)
        self.assertIn("1.10x", detail)
        _, v, _ = report.mixed_target({"default": rows([2.0])})
        self.assertEqual(v, "SKIP")
        _, v, _ = report.mixed_target({"default": rows([2.0]), "scx_door": rows([math.nan])})
        self.assertEqual(v, "MISS")

    def test_table_has_a_row_per_scheduler(self):
        t = report.mixed_table(report.read_mixed(self.log))
        self.assertEqual(len(t), 4)
        self.assertTrue(t[2].startswith("| default | 2.20 (2.00-2.40) |"), t[2])
        # the failed run (nan) is left out of the median, not counted as 0
        self.assertIn("| 1.20 (1.10-1.30) |", t[3])

    def test_whole_report(self):
        if not SMOKE_JSON:
            self.skipTest("no door_bench JSON given (ctest passes door_bench_smoke's)")
        with open(SMOKE_JSON) as f:
            j = json.load(f)
        vms = []
        for label in ("default", "scx_door"):
            j["label"] = label
            p = os.path.join(self.dir.name, f"vm-{label}-1.json")
            with open(p, "w") as f:
                json.dump(j, f)
            vms.append(p)
        out = os.path.join(self.dir.name, "out")
        sys.argv = ["report.py", "--host", SMOKE_JSON, "--vm", *vms, "--vm-log", self.log, "--out", out]
        report.main()
        with open(os.path.join(out, "report.md")) as f:
            md = f.read()
        self.assertIn("### Mixed workload", md)
        self.assertIn("VM: an unrelated job beside door traffic", md)
        self.assertIn("## Runs of slow round trips (host)", md)
        with open(os.path.join(out, "vm-mixed.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 6)  # header + 5 runs
        for name in ("latency.csv", "summary.csv"):
            self.assertTrue(os.path.getsize(os.path.join(out, name)) > 0, name)
        with open(os.path.join(out, "latency.csv")) as f:
            header, first = f.readline().strip().split(","), f.readline().strip().split(",")
        self.assertIn("slow_time_share", header)
        share = float(first[header.index("slow_time_share")])  # door_bench wrote it
        self.assertTrue(0.0 <= share <= 1.0, share)


def latency_run(cells):
    """A door_bench JSON with latency cells {(placement, mechanism, payload): [samples]}."""
    names = sorted({m for _, m, _ in cells})
    return {"mechanisms": [{"name": m, "available": True, "role": "blocking"} for m in names],
            "latency": [{"placement": pl, "mechanism": m, "payload": p, "samples": s}
                        for (pl, m, p), s in cells.items()]}


def sample(p50, mean, share, longest):
    return {"p50_us": p50, "mean_us": mean, "slow_time_share": share, "longest_slow_run": longest}


class SlowRuns(unittest.TestCase):
    def test_lists_cells_whose_time_went_to_slow_runs(self):
        res = report.Results([latency_run({
            ("cross-cpu", "door_call", 8): [sample(0.25, 9.8, 0.9, 2000), sample(0.26, 0.3, 0.02, 4),
                                            sample(0.24, 5.0, 0.8, 700)],
            ("cross-cpu", "futex", 8): [sample(80, 82, 0.01, 2)] * 3,
            ("same-cpu", "pipe", 4096): [sample(7, 7, 0.0, 0), sample(7, 9, 0.06, 1), sample(7, 7, 0.0, 0)],
        })])
        md = "\n".join(report.slow_runs_section(res))
        self.assertIn("| cross-cpu | door_call | 8 B | 80% (2%–90%) | 2,000 | 0.25 | 5.00 |", md)
        self.assertNotIn("| pipe |", md)  # one repeat at 6% does not make the median
        self.assertNotIn("| futex |", md)

    def test_says_so_when_no_cell_qualifies(self):
        res = report.Results([latency_run({("same-cpu", "door_call", 8): [sample(7, 7, 0.01, 1)]})])
        self.assertIn("No cell reached that share.", report.slow_runs_section(res))

    def test_older_json_without_the_figures(self):
        res = report.Results([latency_run({("same-cpu", "door_call", 8): [{"p50_us": 7, "mean_us": 7}]})])
        self.assertIn("No cell reached that share.", report.slow_runs_section(res))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        SMOKE_JSON = sys.argv.pop(1)
    unittest.main()
