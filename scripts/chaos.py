#!/usr/bin/env python3
"""Interrupt a run at random moments, resume it until it finishes, and check.

What an incident can do to a run, end to end against `cdn-unblock simulate`
with every kind of injected fault at once: SIGKILL, SIGINT or SIGTERM at a
random moment, then `run --resume` on the same report, until a run ends on
its own. Then it checks what DESIGN.md promises:

- every input URL has a final status, and it is the right one (`failed` for
  the URLs the simulator fails or refuses, `ok` for every other);
- no sliding one-second window at the simulator saw more than 40 calls,
  across all the runs;
- an interrupted run exits 130.

Usage: scripts/chaos.py [SEED ...]   (after `cargo build --release`)
Set CDN_UNBLOCK to use another binary. Exit 1 if a check fails.
"""
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("CDN_UNBLOCK", os.path.join(ROOT, "target", "release", "cdn-unblock"))
URLS = 6000
FAULTS = ["--p-http-500", "0.03", "--p-http-502", "0.03", "--p-drop", "0.02",
          "--p-internal", "0.02", "--p-garbage", "0.02", "--p-slow", "0.02", "--slow-ms", "3000"]


def busiest_second(times_ms):
    best, j = 0, 0
    for i, t in enumerate(times_ms):
        while t - times_ms[j] >= 1000:
            j += 1
        best = max(best, i - j + 1)
    return best


def one(seed):
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="cdn-unblock-chaos-")
    urls = [f"https://img.example.com/c/{i}.jpg" for i in range(URLS)]
    bad = set(rng.sample(range(URLS), 8))
    for n, i in enumerate(sorted(bad)):
        marker = "__fail__" if n % 2 else "__reject__"
        urls[i] = f"https://img.example.com/{marker}/{i}.jpg"
    with open(f"{work}/in.txt", "w") as f:
        f.write("\n".join(urls) + "\n")
    sim = subprocess.Popen(
        [BIN, "simulate", "--listen", "127.0.0.1:0", "--latency-ms", "20-120",
         "--seed", str(seed), "--log", f"{work}/calls.jsonl", *FAULTS],
        stdout=subprocess.PIPE, text=True)
    endpoint = sim.stdout.readline().split()[-1]
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID="AKIDsimulator",
               TENCENTCLOUD_SECRET_KEY="simulator-secret")
    problems, history = [], []
    for attempt in range(30):
        args = [BIN, "run", "--endpoint", endpoint, "-o", f"{work}/r.csv", "--batch-size", "20",
                "--progress", "never", "-q", "--timeout", "2", f"{work}/in.txt"]
        if attempt:
            args.append("--resume")
        run = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        try:
            code = run.wait(timeout=rng.uniform(0.3, 4.0))
            history.append(code)
            if code not in (0, 1):
                problems.append(f"a run exited {code}: {run.stderr.read()[-300:]}")
            break
        except subprocess.TimeoutExpired:
            sig = rng.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
            run.send_signal(sig)
            code = run.wait()
            history.append(f"{sig.name}:{code}")
            if sig != signal.SIGKILL and code != 130:
                problems.append(f"{sig.name} gave exit {code}")
    else:
        problems.append("no run finished on its own")
    sim.send_signal(signal.SIGINT)
    sim.wait()

    latest = {}
    with open(f"{work}/r.csv", newline="") as f:
        for row in csv.DictReader(f):
            latest[row["url"]] = row["status"]
    for i, url in enumerate(urls):
        want = "failed" if i in bad else "ok"
        if latest.get(url) != want:
            problems.append(f"{url}: {latest.get(url)}, not {want}")
    with open(f"{work}/calls.jsonl") as f:
        times = sorted(json.loads(line)["elapsed_ms"] for line in f)
    busiest = busiest_second(times)
    if busiest > 40:
        problems.append(f"{busiest} calls in one second")
    print(f"seed {seed}: runs {history}; {len(times)} calls, busiest second {busiest}; "
          f"{'OK' if not problems else 'FAILED'}")
    for p in problems[:10]:
        print("  ", p)
    if problems:
        print("   kept for a look:", work)
    else:
        shutil.rmtree(work)
    return not problems


if __name__ == "__main__":
    seeds = [int(s) for s in sys.argv[1:]] or [1, 2, 3]
    sys.exit(0 if all([one(s) for s in seeds]) else 1)
