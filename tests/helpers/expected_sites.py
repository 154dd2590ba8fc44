"""Compares `allocscope leaks --json` with a program's table of what it leaks.

Usage: expected_sites.py LEAKS_JSON TABLE
TABLE has lines "FUNCTION BYTES BLOCKS" (FUNCTION may contain spaces: a demangled C++
signature): BLOCKS blocks of BYTES/BLOCKS bytes each, allocated where a frame of the stack is
FUNCTION, exactly as allocscope names it. The sites whose stacks hold a frame named FUNCTION
and whose blocks have that size (other sites there, such as a hash map's last table, have
other sizes) must add up to exactly BYTES and BLOCKS. Other lines (a JVM's "Picked up ...")
are ignored. Prints "ok", or one line naming each mismatch and what was found.
"""
import json
import re
import sys

LINE = re.compile(r"^(\S.*\S) (\d+) (\d+)$")


def main():
    report = json.load(open(sys.argv[1]))
    problems, checked = [], 0
    for line in open(sys.argv[2]):
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        function, nbytes, blocks = m.group(1), int(m.group(2)), int(m.group(3))
        each = nbytes // blocks
        at = [s for s in report["sites"] if any(f["function"] == function for f in s["frames"])]
        sized = [s for s in at if s["bytes"] == s["blocks"] * each]
        got = (sum(s["bytes"] for s in sized), sum(s["blocks"] for s in sized))
        checked += 1
        if got != (nbytes, blocks):
            seen = ", ".join("%d B in %d" % (s["bytes"], s["blocks"]) for s in at) or "no site"
            problems.append("%s: %d B in %d blocks, want %d B in %d blocks of %d (sites: %s)"
                            % (function, got[0], got[1], nbytes, blocks, each, seen))
    if checked == 0:
        problems.append("the table %s has no line" % sys.argv[2])
    print("; ".join(problems) if problems else "ok")


main()
