"""Compares a tempest run (subunit2csv output) with the tests that must
pass: prints the counts, every must-pass test that did not pass (and
fails), and the tests that passed without being on the list. With
TEMPEST_UPDATE_MUST_PASS=1 those are added to the list (it only grows).

    check.py RESULTS.csv MUST_PASS.txt
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter

# A test id with tempest's attributes: `path.Class.test[id-...,smoke]`.
ATTRIBUTES = re.compile(r"\[.*\]$")


def base(test_id: str) -> str:
    return ATTRIBUTES.sub("", test_id)


def main() -> int:
    results_path, must_pass_path = sys.argv[1], sys.argv[2]
    status: dict[str, str] = {}
    with open(results_path, newline="") as f:
        for row in csv.DictReader(f):
            test = base(row["test"])
            if test.startswith("setUpClass") or test.startswith("tearDownClass"):
                # A class that failed to set up: its tests did not run.
                test = re.sub(r"^\w+ \((.*)\)$", r"\1", test)
            status[test] = row["status"]
    with open(must_pass_path) as f:
        lines = f.read().splitlines()
    header = [line for line in lines if line.startswith("#")]
    must_pass = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    counts = Counter(status.values())
    print("tempest: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    missing = [t for t in must_pass if status.get(t) != "success"]
    for test in missing:
        print(f"MUST PASS, {status.get(test, 'not run')}: {test}")
    listed = set(must_pass)
    new = sorted(t for t, s in status.items() if s == "success" and t not in listed)
    if new:
        print(f"{len(new)} passing tests are not on the must-pass list yet:")
        for test in new:
            print(f"  {test}")
    if new and os.environ.get("TEMPEST_UPDATE_MUST_PASS") == "1":
        with open(must_pass_path, "w") as f:
            f.write("\n".join(header + sorted(listed | set(new))) + "\n")
        print(f"added {len(new)} tests to {must_pass_path}")
    print(f"must-pass: {len(must_pass) - len(missing)} of {len(must_pass)} passed")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
