"""How long a light command takes to start: ``augkit --help``, ``augkit plugins`` and ``augkit
info DEMO``, against the interpreter's own start (``python -c pass``) in the same rounds, and,
with ``--before DIR PYTHON``, against an older checkout run by its own interpreter.

Rounds are interleaved (every command once per round, in turn) so that load from other work
falls on all of them alike; the report gives min / median / max seconds and the median ratio
to the bare interpreter.

    python benchmarks/cli_start.py --rounds 15 [--before /tmp/augkit-old /path/to/old/python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from augkit.evaluate.provenance import provenance

OUT = Path(__file__).parent / "results" / "cli_start"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def commands(python: str, demo: Path) -> dict[str, list[str]]:
    augkit = [python, "-m", "augkit"]
    return {"--help": [*augkit, "--help"], "plugins": [*augkit, "plugins"], "info": [*augkit, "info", str(demo)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", nargs=2, metavar=("SRC_ROOT", "PYTHON"),
                        help="an older checkout (its src/ and plugins/ go first on PYTHONPATH) and its interpreter")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "augkit", "demo", str(demo)], check=True, stdout=subprocess.DEVNULL)
        cases = {"python -c pass": ([sys.executable, "-c", "pass"], env)}
        cases.update({f"augkit {name}": (cmd, env) for name, cmd in commands(sys.executable, demo).items()})
        if args.before:
            root, python = args.before
            old_env = dict(env, PYTHONPATH=f"{root}/src:{root}/plugins")
            cases.update({f"before: augkit {name}": (cmd, old_env) for name, cmd in commands(python, demo).items()})
        for cmd, case_env in cases.values():  # warm the file cache and the bytecode
            timed(cmd, case_env)
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (cmd, case_env) in cases.items():
                seconds[name].append(timed(cmd, case_env))
    floor = statistics.median(seconds["python -c pass"])
    rows = {name: {"min": min(s), "median": statistics.median(s), "max": max(s),
                   "median_over_bare_python": statistics.median(s) / floor} for name, s in seconds.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"rounds": args.rounds, "seconds": rows, "raw": seconds,
                                                  "load_average": os.getloadavg(),
                                                  "provenance": provenance()}, indent=1) + "\n")
    lines = ["# Start-up time of light commands", "",
             f"{args.rounds} interleaved rounds, one command after another; load average at the end "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. Command: `python benchmarks/cli_start.py "
             f"--rounds {args.rounds}{' --before ...' if args.before else ''}`.", "",
             "| command | min s | median s | max s | median / bare python |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['min']:.2f} | {r['median']:.2f} | {r['max']:.2f} | {r['median_over_bare_python']:.1f}× |"
              for name, r in rows.items()]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
