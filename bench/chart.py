#!/usr/bin/env python3
"""Draws docs/performance.svg from the results bench/run.sh recorded in
docs/performance.md: for every request and connection count, the latest
throughput and p99 latency of each system measured (oxstack on SQLite, on
PostgreSQL, and any cloud `bench/run.sh --compare` ran against), as bars on
logarithmic axes so that a cloud a thousand times slower still shows.

    bench/chart.py [docs/performance.md] [docs/performance.svg]

Only the sections bench/run.sh wrote are read (a heading with the backend
and the command, then its `| request | connections | req/s | ...` table);
the hand-written comparisons between them are not.
"""

import math
import re
import sys
from html import escape
from pathlib import Path

HEADING = re.compile(r"^### (?P<date>\S+) · (?P<built>.*?) · \d+ cores, .*? · (?P<backend>sqlite|postgres|remote)\b")
ROW = re.compile(r"^\| (?P<name>[^|]+?) \| (?P<conns>\d+) \| (?P<rps>[\d.]+) \| (?P<p50>[^|]+) \| [^|]+ \| (?P<p99>[^|]+) \|")
COLOURS = {"sqlite": "#2b6cb0", "postgres": "#38a169"}
OTHER_COLOURS = ["#dd6b20", "#805ad5", "#c53030"]


def millis(text: str) -> float | None:
    match = re.fullmatch(r"\s*([\d.]+)(us|ms|s)\s*", text)
    if not match:
        return None
    value, unit = float(match[1]), match[2]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def results(markdown: str) -> tuple[dict, list[str]]:
    """{(request, connections): {system: (req/s, p99 ms)}}, latest run
    winning, and the systems in the order first seen."""
    latest: dict = {}
    systems: list[str] = []
    system = None
    for line in markdown.splitlines():
        heading = HEADING.match(line)
        if heading:
            backend = heading["backend"]
            system = f"oxstack · {backend}" if backend != "remote" else heading["built"].split(" (")[0]
            if system not in systems:
                systems.append(system)
            continue
        if line.startswith("### "):
            system = None
        row = ROW.match(line)
        # The load runs (mix) are reliability checks, not one request's figure.
        if system and row and float(row["rps"]) > 0 and not row["name"].startswith("mix "):
            key = (row["name"], int(row["conns"]))
            latest.setdefault(key, {})[system] = (float(row["rps"]), millis(row["p99"]))
    return latest, systems


def colour(system: str, systems: list[str]) -> str:
    for backend, value in COLOURS.items():
        if system == f"oxstack · {backend}":
            return value
    others = [s for s in systems if not s.startswith("oxstack · ")]
    return OTHER_COLOURS[others.index(system) % len(OTHER_COLOURS)]


def log_scale(low: float, high: float, width: float):
    low, high = math.log10(low), math.log10(high)
    return lambda value: width * (math.log10(max(value, 10**low)) - low) / (high - low)


def ticks(low: float, high: float) -> list[float]:
    return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


def draw(latest: dict, systems: list[str]) -> str:
    rows = sorted(latest.items(), key=lambda item: item[0])
    label_w, panel_w, gap, bar_h, top = 440, 330, 40, 9, 60
    group_h = bar_h * max(len(v) for _, v in rows) + 8
    height = top + group_h * len(rows) + 40
    width = label_w + 2 * panel_w + gap + 20
    rps = [v[0] for _, vs in rows for v in vs.values()]
    p99 = [v[1] for _, vs in rows for v in vs.values() if v[1]]
    panels = [
        ("requests per second (log)", 0, ticks(min(rps), max(rps))),
        ("p99 latency, ms (log)", 1, ticks(min(p99), max(p99))),
    ]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    legend_x = 10
    for system in systems:
        out.append(f'<rect x="{legend_x}" y="10" width="10" height="10" fill="{colour(system, systems)}"/>')
        out.append(f'<text x="{legend_x + 14}" y="19">{escape(system)}</text>')
        legend_x += 20 + 7 * len(system)
    for title, index, marks in panels:
        x0 = label_w + index * (panel_w + gap)
        scale = log_scale(marks[0], marks[-1], panel_w)
        out.append(f'<text x="{x0}" y="{top - 22}" font-weight="bold">{title}</text>')
        for mark in marks:
            x = x0 + scale(mark)
            out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>')
            text = f"{mark:g}" if mark < 1e6 else f"{mark:.0e}"
            out.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="#555">{text}</text>')
        for row_index, ((name, conns), values) in enumerate(rows):
            y = top + row_index * group_h
            if index == 0:
                label = f"{name} · {conns} conn{'s' if conns > 1 else ''}"
                out.append(f'<text x="{label_w - 8}" y="{y + group_h / 2 + 3:.1f}" text-anchor="end">{escape(label)}</text>')
            for bar, system in enumerate(s for s in systems if s in values):
                value = values[system][index]
                if value is None:
                    continue
                w = max(scale(value), 1)
                out.append(
                    f'<rect x="{x0}" y="{y + bar * bar_h}" width="{w:.1f}" height="{bar_h - 1}" '
                    f'fill="{colour(system, systems)}"><title>{escape(system)}: {value:g}</title></rect>'
                )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/performance.md")
    target = Path(sys.argv[2] if len(sys.argv) > 2 else source.with_suffix(".svg"))
    latest, systems = results(source.read_text())
    if not latest:
        sys.exit(f"{source}: no results recorded by bench/run.sh")
    target.write_text(draw(latest, systems))
    print(f"{target}: {len(latest)} requests, {len(systems)} systems")


if __name__ == "__main__":
    main()
