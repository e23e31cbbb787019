#!/usr/bin/python3
"""ctest smoke test: `benchmarks/run --quick` against canal-chat (and the Node peers of
benchmarks/peers when their npm packages are installed), then checks every run's JSON line:
the run completed, the expected fields are there, throughput is not zero and nothing was lost
in closed loop. Open-loop and burst runs are checked for consistency only: what a server
does under overload is what they measure, not something this test asserts. No timing
assertions.

Usage: smoke_test.py BUILD_DIR OUT_DIR
"""
import glob
import json
import os
import shutil
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
    "burst": ["mode", "ports", "path", "members", "frames", "burst_bytes", "expected",
              "received", "complete", "closed_by_server", "cut_by_writer_close", "unfinished",
              "silent_loss",
              "out_of_order", "close_codes", "writer_received", "writer_outcome",
              "client_cpu_s", "server_cpu_s", "deliveries_per_server_cpu_s", "servers",
              "server_exit"],
}
OPEN_LOOP = ["offered", "not_sent_pushback", "not_sent_closed", "sent_late", "send_lag_max_us",
             "closed_by_server", "close_codes", "lost_at_open_members", "still_arriving", "late",
             "client_cpu_s",
             "server_cpu_s", "ops_per_server_cpu_s"]
THROUGHPUT = {"echo": "msgs_per_s", "room": "deliveries_per_s", "connect": "handshakes_per_s"}


def main():
    build, out = sys.argv[1], sys.argv[2]
    for old in glob.glob(os.path.join(out, "*.json")):
        os.remove(old)
    cmd = [os.path.join(HERE, "run"), "--quick", "--build", build, "--out", out, "--no-docs"]
    modules = os.path.join(HERE, "peers", "node_modules")
    if shutil.which("node") is None:
        print("smoke test: skipping the peers: node is not installed")
    elif not all(os.path.isdir(os.path.join(modules, m)) for m in ("uwebsockets", "ws")):
        print("smoke test: skipping the peers: their npm packages are not installed "
              "(benchmarks/peers/setup)")
    else:
        cmd.append("--with-peers")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
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
        if modes != ["burst", "connect", "echo", "idle", "room"]:
            failures.append(f"expected the modes burst, connect, echo, idle, room; got {modes}")
        for run in doc["runs"]:
            r = run.get("result")
            name = f"{run['scenario']} ({run['server']} {run['consumer']})"
            if not r:
                failures.append(f"{name}: no JSON line (exit status {run['exit_status']})")
                continue
            open_loop = r["mode"] == "room" and r.get("offered") is not None
            missing = [f for f in FIELDS[r["mode"]] + (OPEN_LOOP if open_loop else [])
                       if f not in r]
            if missing:
                failures.append(f"{name}: missing fields {missing}")
                continue
            key = THROUGHPUT.get(r["mode"])
            if key and not r.get(key, 0) > 0:
                failures.append(f"{name}: {key} is {r.get(key)}, expected > 0")
            if open_loop:
                unsent = r["not_sent_pushback"] + r["not_sent_closed"]
                if r["sent"] + unsent != r["offered"]:
                    failures.append(f"{name}: sent {r['sent']} + not sent {unsent} != offered "
                                    f"{r['offered']}")
            elif r["mode"] == "burst":
                outcomes = (r["complete"] + r["closed_by_server"] + r["cut_by_writer_close"] +
                            r["unfinished"] + r["silent_loss"] + r["out_of_order"])
                if outcomes != r["members"]:
                    failures.append(f"{name}: outcomes add up to {outcomes}, not "
                                    f"{r['members']} members")
                if r["silent_loss"] or r["out_of_order"] or r["writer_outcome"] != "complete":
                    print(f"smoke test: note: {name}: silent loss {r['silent_loss']}, out of "
                          f"order {r['out_of_order']}, writer {r['writer_outcome']}")
            elif r.get("lost", 0) != 0 or r.get("disconnects", 0) != 0:
                failures.append(f"{name}: lost {r.get('lost')}, disconnects "
                                f"{r.get('disconnects')}")
            if r["mode"] == "room" and r["delivered"] + r.get("late", 0) + r["lost"] != r["expected"]:
                failures.append(f"{name}: delivered {r['delivered']} + late {r.get('late')} + "
                                f"lost {r['lost']} is not the {r['expected']} expected")
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
