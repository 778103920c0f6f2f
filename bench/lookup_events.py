#!/usr/bin/env python3
"""LookupEvents latency over a trail of 1,000,000 stored events.

The events are written straight into a fresh data dir's SQLite store (one
account, a mix of event names and users over 90 days), then `irsa serve`
answers boto3's lookup_events; each lookup is timed over repeated calls and
the median printed.

Usage (from the repository root, after scripts/test created .venv):
    cargo build --release -p irsa
    .venv/bin/python bench/lookup_events.py [--events 1000000] [--repeat 50]
"""

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid

import boto3

from common import ROOT, free_port, wait_port

NAMES = ["AssumeRoleWithWebIdentity"] * 6 + ["GetRole", "ListRoles", "AssumeRole", "CreateRole"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="irsa-lookup-")
    port = free_port()
    env = {**os.environ, "IRSA_LOG": "warn"}
    proc = subprocess.Popen([args.binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    exports = dict(l.strip()[len("export "):].split("=", 1) for l in (proc.stdout.readline(), proc.stdout.readline()))
    wait_port(port)
    proc.terminate()
    proc.wait()

    now_ms = int(time.time() * 1000)
    span = 89 * 86_400_000
    db = sqlite3.connect(os.path.join(data, "audit.db"))
    started = time.time()
    rows = []
    for i in range(args.events):
        name = random.choice(NAMES)
        t = now_ms - random.randrange(span)
        user = f"role-{random.randrange(200)}"
        record = json.dumps({"eventVersion": "1.08", "eventName": name, "eventSource": "sts.amazonaws.com",
                             "eventTime": t, "requestParameters": {"roleArn": f"arn:aws:iam::123456789012:role/{user}"}})
        rows.append((str(uuid.UUID(int=random.getrandbits(128))), "123456789012", t, name, "sts.amazonaws.com", user,
                     "", 1, "", "AWS::IAM::Role", f"arn:aws:iam::123456789012:role/{user}", record))
        if len(rows) == 50_000:
            db.executemany("INSERT INTO audit_events (id, account, time_ms, name, source, username, access_key_id, read_only, error_code, resource_type, resource_name, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.commit()
            rows = []
    if rows:
        db.executemany("INSERT INTO audit_events (id, account, time_ms, name, source, username, access_key_id, read_only, error_code, resource_type, resource_name, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.commit()
    db.close()
    print(f"stored {args.events} events in {time.time() - started:.0f} s")

    proc = subprocess.Popen([args.binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_port(port)
    os.environ.update(exports)
    ct = boto3.session.Session().client("cloudtrail")
    cases = {
        "newest 50 (no attribute)": {},
        "EventName=AssumeRoleWithWebIdentity": {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}]},
        "Username=role-7": {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "role-7"}]},
        "EventName=CreateRole, last 24 h": {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateRole"}],
                                             "StartTime": time.time() - 86_400, "EndTime": time.time()},
    }
    for label, kwargs in cases.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = ct.lookup_events(MaxResults=50, **kwargs)
            times.append(time.perf_counter() - t)
        print(f"{label}: median {statistics.median(times) * 1000:.1f} ms over {args.repeat} calls ({len(out['Events'])} events per page)")
    proc.terminate()
    proc.wait()


if __name__ == "__main__":
    main()
