#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Formats bench/run.py's rows: numbers for the terminal, and bench/results.json as
the Markdown table of README.md's *Performance* section (same names, same figures).
  python3 bench/table.py [bench/results.json]
"""
import json
import sys


def num(x):
    """A figure to three significant digits or so, thousands separated."""
    if x is None:
        return "-"
    a = abs(x)
    if float(x).is_integer():
        return "{:,d}".format(int(x))
    if a >= 1000:
        return "{:,.0f}".format(x)
    if a >= 100:
        return "%.0f" % x
    if a >= 10:
        return "%.1f" % x
    if a >= 1:
        return "%.2f" % x
    return "%.3g" % x


def spread(med, rng):
    """median (min-max), or the median alone."""
    if rng is None or rng[0] == rng[1] == med:
        return num(med)
    return "%s (%s–%s)" % (num(med), num(rng[0]), num(rng[1]))


def value_cell(r):
    return "%s %s" % (spread(r["value"], r.get("value_range")), r["unit"])


def baseline_cell(r):
    if r.get("baseline_value") is None:
        return r["baseline"]
    return "%s: %s %s" % (r["baseline"], spread(r["baseline_value"], r.get("baseline_range")),
                          r["unit"])


def ratio_cell(r):
    if r.get("not_ratio"):
        return "not a ratio"
    if r.get("ratio") is None or r["ratio"] != r["ratio"]:
        return "-"
    return spread(r["ratio"], r.get("ratio_range"))


def markdown(results):
    out = ["| figure | value: median (min–max) | baseline, same run | ratio: median (min–max) "
           "| runs | how |", "|---|---|---|---|---|---|"]
    for r in results:
        if "unavailable" in r:
            out.append("| %s | unavailable | | | | %s |" % (r["figure"], r["unavailable"]))
            continue
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            r["figure"], value_cell(r), baseline_cell(r), ratio_cell(r), r.get("rounds") or "",
            r.get("note", "").replace("|", "\\|")))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json") as f:
        sys.stdout.write(markdown(json.load(f)["results"]))
