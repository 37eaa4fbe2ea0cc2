"""Throughput of ``kerasopt-compat normalize`` on JSON Lines, and ``import kerasopt_compat`` time.

    python benchmarks/bench_cli.py [--records 1000000] [--repeat 3] [--import-only]

Everything is measured in this run, on this machine:

- a JSON Lines file of N records, each an optimizer dict that a real TF/Keras
  wheel wrote (``tests/data/exports``, all versions mixed), and the same with
  every record distinct (a learning rate that differs per record: nothing to
  reuse);
- the baseline: a bare ``json.loads``/``json.dumps`` loop over the same file
  in the same interpreter, writing to a file;
- ``kerasopt-compat normalize FILE -o OUT`` run in-process (the same
  interpreter), and with ``--jobs 2``;
- peak memory (max RSS) of the command in a fresh process at N/10 and N records;
- ``import kerasopt_compat`` in a fresh interpreter minus ``python -c pass``, the package
  pip-installed into a fresh venv (:func:`import_ms`).

Prints a Markdown table with the ratios (ours / baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kerasopt_compat._cli.main import main as cli  # noqa: E402


def exports():
    out = []
    for path in sorted((ROOT / "tests" / "data" / "exports").glob("*.json")):
        out += [e["serialized"] for e in json.loads(path.read_text())["exports"] if "serialized" in e]
    return out


def write_jsonl(path: pathlib.Path, n: int, distinct: bool) -> None:
    pool = exports()
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            opt = rng.choice(pool)
            if distinct:
                opt = json.loads(json.dumps(opt))
                if isinstance(opt["config"].get("learning_rate"), float):
                    opt["config"]["learning_rate"] = 1e-3 + i * 1e-9
            fh.write(json.dumps(opt) + "\n")


def bare_loop(src: pathlib.Path, dst: pathlib.Path) -> None:
    with open(src, encoding="utf-8") as fh, open(dst, "w", encoding="utf-8") as out:
        for line in fh:
            out.write(json.dumps(json.loads(line)) + "\n")


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def max_rss_kib(args) -> int:
    code = (
        "import resource, sys; from kerasopt_compat._cli.main import main; rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True, cwd=str(ROOT), env=dict(os.environ))
    return int(run.stderr.strip().splitlines()[-1])


def import_ms(runs: int = 40, warmup: int = 5) -> tuple[float, float, float]:
    """``import kerasopt_compat`` minus ``python -c pass``, as a user gets it: the package
    pip-installed (not editable, bytecode compiled by pip) into a fresh venv, each a fresh
    interpreter started ``runs`` times after ``warmup`` runs of each, the two in turn
    (A B A B ...), so a drift in the machine's speed hits both.

    Returns (median of the paired differences, median of ``pass``, median of the import), in ms.
    """
    import statistics
    import venv

    with tempfile.TemporaryDirectory() as tmp:
        env_dir = pathlib.Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        python = str(env_dir / ("Scripts" if os.name == "nt" else "bin") / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)], check=True, cwd=tmp)
        # bytecode is written at install; PYTHONDONTWRITEBYTECODE only stops later writes
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}

        def once(code: str) -> float:
            start = time.perf_counter()
            subprocess.run([python, "-c", code], check=True, cwd=tmp, env=env)
            return time.perf_counter() - start

        for _ in range(warmup):
            once("pass")
            once("import kerasopt_compat")
        bare, ours = [], []
        for _ in range(runs):
            bare.append(once("pass"))
            ours.append(once("import kerasopt_compat"))
    diff = statistics.median(o - b for o, b in zip(ours, bare))
    return diff * 1e3, statistics.median(bare) * 1e3, statistics.median(ours) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--import-only", action="store_true", help="only the import time")
    args = parser.parse_args()
    if args.import_only:
        diff, bare, ours = import_ms()
        print("`import kerasopt_compat` adds %.1f ms over `python -c pass` (`pass` %.1f ms, import %.1f ms)" % (diff, bare, ours))
        return
    n = args.records
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        out = folder / "out.jsonl"
        for distinct in (False, True):
            src = folder / ("distinct.jsonl" if distinct else "repeated.jsonl")
            write_jsonl(src, n, distinct)
            label = "%s records, %s" % (format(n, ","), "all distinct" if distinct else "real exports (repeating)")
            base = timed(lambda src=src: bare_loop(src, out), args.repeat)
            for jobs in (1, 2):
                ours = timed(
                    lambda src=src, jobs=jobs: cli(["normalize", str(src), "-o", str(out), "-q", "--jobs", str(jobs)]),
                    args.repeat,
                )
                rows.append((label + ", --jobs %d" % jobs, base, ours))
        small = folder / "small.jsonl"
        write_jsonl(small, max(1, n // 10), True)
        big = folder / "distinct.jsonl"
        mem_small = max_rss_kib(["normalize", str(small), "-o", str(out), "-q"])
        mem_big = max_rss_kib(["normalize", str(big), "-o", str(out), "-q"])
    print("## Python %s, %s\n" % (platform.python_version(), platform.machine()))
    print("| input | bare json.loads/dumps loop, s | kerasopt-compat normalize, s | ratio |")
    print("|---|---|---|---|")
    for label, base, ours in rows:
        print("| %s | %.2f | %.2f | %.2f |" % (label, base, ours, ours / base))
    print()
    print(
        "peak memory (max RSS) of `normalize`: %d MiB at %s records, %d MiB at %s records"
        % (mem_small // 1024, format(max(1, n // 10), ","), mem_big // 1024, format(n, ","))
    )
    diff, bare, ours = import_ms()
    print(
        "`import kerasopt_compat` adds %.1f ms over `python -c pass` (median of 40 paired runs after 5 warm-up runs, "
        "fresh venv, non-editable install; `pass` %.1f ms, import %.1f ms)" % (diff, bare, ours)
    )


if __name__ == "__main__":
    main()
