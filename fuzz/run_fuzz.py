"""Long fuzzing run of archdsl (in-process, seeded, several cheap generators).

    python fuzz/run_fuzz.py -n 100000                 # 100,000 inputs through `check`, seed 0, 1 worker
    python fuzz/run_fuzz.py --pipeline -n 100000 -j 2 # check -> compile -> build(device="meta") -> fmt --check
    python fuzz/run_fuzz.py -n 100000 -j 2 --seed 7   # 2 worker processes
    python fuzz/run_fuzz.py --only deep_blocks -n 200 # one generator

Every input must satisfy the invariant in fuzz/harness.py.  Failing inputs are written to
`--out` (default fuzz/findings/) with the message; the run ends with a summary and exit 1 if
anything failed.  Re-run one finding with `archdsl check fuzz/findings/<name>/fuzz.arch`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

import harness  # noqa: E402


def _worker(args):
    wid, n, seed, only, limit, out, pipeline = args
    r = random.Random(seed * 1000 + wid)
    names = [only] if only else list(harness.GENERATORS)
    weights = [harness.WEIGHTS.get(k, 1) for k in names]
    work = Path(tempfile.mkdtemp(prefix=f"archdsl-fuzz-{wid}-"))
    os.chdir(work)  # a payload that ran would leave its marker file here
    stats, rcs, fails = Counter(), Counter(), []
    slowest = (0.0, "")
    t0 = time.time()
    for i in range(n):
        g = r.choices(names, weights)[0]
        inp = harness.GENERATORS[g](r)
        stats[g] += 1
        try:
            rc, err, dt = harness.run_case(inp, work / f"i{i % 50}", limit, pipeline)
            if harness._pwned(Path.cwd()):
                raise harness.Violation("an injected payload ran (the marker file exists)")
            rcs[rc] += 1
            if dt > slowest[0]:
                slowest = (dt, g)
        except harness.Violation as e:
            msg = str(e)
            fails.append((g, msg.splitlines()[0][:200]))
            d = Path(out) / f"w{wid}-{i}-{g}"
            d.mkdir(parents=True, exist_ok=True)
            files = (inp["files"] if "argv" in inp else inp) if isinstance(inp, dict) else {"fuzz.arch": inp}
            if isinstance(inp, dict) and "argv" in inp:
                (d / "argv.json").write_text(json.dumps(inp["argv"]))
            for name, content in files.items():
                (d / name).parent.mkdir(parents=True, exist_ok=True)
                (d / name).write_bytes(
                    content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
                )
            (d / "violation.txt").write_text(msg)
            (d / "state.json").write_text(json.dumps({"generator": g, "seed": seed, "worker": wid, "index": i}))
        if wid == 0 and (i + 1) % 2000 == 0:
            print(
                f"[w0] {i + 1}/{n} inputs, {len(fails)} failures, {time.time() - t0:.0f} s", file=sys.stderr, flush=True
            )
    return stats, rcs, fails, slowest, time.time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="number of inputs (all workers together)")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=sorted(harness.GENERATORS))
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds allowed per input")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "findings"))
    ap.add_argument(
        "--pipeline",
        action="store_true",
        help="also compile, build on the meta device and fmt --check every input that check accepts",
    )
    a = ap.parse_args(argv)
    a.out = os.path.abspath(a.out)
    per = [a.n // a.jobs + (1 if w < a.n % a.jobs else 0) for w in range(a.jobs)]
    jobs = [(w, per[w], a.seed, a.only, a.time_limit, a.out, a.pipeline) for w in range(a.jobs)]
    t0 = time.time()
    if a.jobs == 1:
        results = [_worker(jobs[0])]
    else:
        with mp.get_context("spawn").Pool(a.jobs) as pool:
            results = pool.map(_worker, jobs)
    stats, rcs, fails, slow = Counter(), Counter(), [], (0.0, "")
    for s, rc, f, sl, _ in results:
        stats.update(s)
        rcs.update(rc)
        fails += f
        slow = max(slow, sl)
    wall = time.time() - t0
    total = sum(stats.values())
    print(f"{'pipeline (check, compile, build on meta, fmt)' if a.pipeline else 'check'}: ", end="")
    print(f"{total} inputs in {wall:.0f} s ({total / max(wall, 1e-9):.0f}/s), seed {a.seed}, {a.jobs} worker(s)")
    print("per generator: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())))
    print(f"exit status: {dict(sorted(rcs.items()))}; slowest input {slow[0]:.2f} s ({slow[1]})")
    if fails:
        kinds = Counter(msg for _, msg in fails)
        print(f"{len(fails)} FAILURES (inputs in {a.out}):")
        for msg, c in kinds.most_common(30):
            print(f"  {c:6d}  {msg}")
        return 1
    print("0 failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
