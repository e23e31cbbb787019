#!/usr/bin/python3
"""ctest smoke test: `benchmarks/run --quick` against canal-chat, then checks every run's JSON
line: the run completed, the expected fields are there, throughput is not zero and nothing
was lost. No timing assertions.

Usage: smoke_test.py BUILD_DIR OUT_DIR
"""
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

COMMON = ["mode", "ports", "path", "duration_s", "client_cpu_pct", "server_cpu_pct",
          "server_cpu_us_per_op", "disconnects", "servers", "server_exit"]
LATENCY = ["latency_p50_us", "latency_p99_us", "latency_p999_us", "latency_max_us",
           "latency_mean_us"]
FIELDS = {
    "echo": COMMON + LATENCY + ["connections", "window", "size", "sent", "msgs_per_s",
                                "expected", "lost", "out_of_order"],
    "room": COMMON + LATENCY + ["members", "senders", "window", "sent", "sent_per_s",
                                "delivered", "deliveries_per_s", "expected", "lost",
                                "out_of_order"],
    "connect": COMMON + LATENCY + ["connections", "handshakes", "handshakes_per_s",
                                   "connect_errors"],
    "idle": COMMON + ["connections", "connect_s", "server_rss_before_kib",
                      "server_rss_after_kib", "server_rss_per_conn_kib", "client_rss_kib"],
}
THROUGHPUT = {"echo": "msgs_per_s", "room": "deliveries_per_s", "connect": "handshakes_per_s"}


def main():
    build, out = sys.argv[1], sys.argv[2]
    for old in glob.glob(os.path.join(out, "*.json")):
        os.remove(old)
    proc = subprocess.run([os.path.join(HERE, "run"), "--quick", "--build", build, "--out", out,
                           "--no-docs"], capture_output=True, text=True, timeout=60)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    failures = []
    if proc.returncode != 0:
        failures.append(f"benchmarks/run --quick exited with {proc.returncode}")
    files = glob.glob(os.path.join(out, "*.json"))
    if len(files) != 1:
        failures.append(f"expected one results file in {out}, found {len(files)}")
    else:
        doc = json.load(open(files[0]))
        modes = sorted({(run.get("result") or {}).get("mode") for run in doc["runs"]}, key=str)
        if modes != ["connect", "echo", "idle", "room"]:
            failures.append(f"expected the modes connect, echo, idle, room; got {modes}")
        for run in doc["runs"]:
            r = run.get("result")
            name = f"{run['scenario']} ({run['consumer']})"
            if not r:
                failures.append(f"{name}: no JSON line (exit status {run['exit_status']})")
                continue
            missing = [f for f in FIELDS[r["mode"]] if f not in r]
            if missing:
                failures.append(f"{name}: missing fields {missing}")
            key = THROUGHPUT.get(r["mode"])
            if key and not r.get(key, 0) > 0:
                failures.append(f"{name}: {key} is {r.get(key)}, expected > 0")
            if r.get("lost", 0) != 0 or r.get("disconnects", 0) != 0:
                failures.append(f"{name}: lost {r.get('lost')}, disconnects "
                                f"{r.get('disconnects')}")
            if r["mode"] == "idle" and not (r.get("server_rss_after_kib") or 0) > 0:
                failures.append(f"{name}: no server RSS measured")
            if r.get("server_exit") != "exit status 0":
                failures.append(f"{name}: the server ended with {r.get('server_exit')}")
    for f in failures:
        print("FAIL:", f)
    print(f"smoke test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
