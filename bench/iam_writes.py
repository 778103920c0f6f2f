#!/usr/bin/env python3
"""Load benchmark: IAM writes and reads in one run against `irsa serve` with wrk.

Three shapes, each for --duration seconds at --connections connections:
- CreateRole: distinct role names, spread over enough accounts that IAM's
  quota of 1,000 roles per account is never hit; every request is pre-signed
  with botocore and wrk sends each once.
- TagRole: the same tag written again and again on one role (each a
  transaction that reads the role's tags, checks the quota and writes).
- GetRole: one signed request replayed (a read, no transaction).
Every request is verified (SigV4), authorized, executed and audited.

Usage (from the repository root, after scripts/test created .venv):
    cargo build --release -p irsa
    .venv/bin/python bench/iam_writes.py [--duration 10] [--connections 64] [--cpu 0]
--cpu pins the server to that core (taskset); wrk runs on the others.
Prints one table row per shape: requests/s, p50, p99, non-2xx answers.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import ROOT, free_port, rss, wait_port

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def signed(listen, creds, body):
    req = AWSRequest(method="POST", url=f"http://{listen}/", data=body, headers=dict(FORM))
    SigV4Auth(creds, "iam", "us-east-1").add_auth(req)
    # wrk.format runs before wrk sets its Host header: name it here.
    return body, {"Host": listen, **dict(req.headers.items())}


def lua_many(path, requests):
    """A wrk script sending each request once, in order (then the last again)."""
    lines = ["local reqs = {}"]
    for body, headers in requests:
        hs = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        lines.append(f'reqs[#reqs + 1] = wrk.format("POST", "/", {{{hs}}}, "{body}")')
    lines += [
        "local i = 0",
        "function request()",
        "  if i < #reqs then i = i + 1 end",
        "  return reqs[i]",
        "end",
        "local shown = false",
        "function response(status, headers, body)",
        "  if status ~= 200 and not shown then shown = true; io.stderr:write(body .. \"\\n\") end",
        "end",
    ]
    Path(path).write_text("\n".join(lines) + "\n")


def run_wrk(listen, lua, args, cpus):
    cmd = ["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{args.duration}s", "--latency",
           "-s", str(lua), f"http://{listen}/"]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.stderr:
        print(out.stderr[:500], file=sys.stderr)
    text = out.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rate, lat.get("50"), lat.get("99"), int(bad.group(1)) if bad else 0, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--cpu", default=None, help="pin the server to this core")
    ap.add_argument("--expected-rate", type=int, default=4000,
                    help="CreateRole requests to pre-sign per second of --duration")
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="irsa-bench-")
    listen = f"127.0.0.1:{free_port()}"
    cmd = [args.binary, "serve", "--data-dir", data, "--listen", listen]
    wrk_cpus = None
    if args.cpu is not None:
        cmd = ["taskset", "-c", args.cpu] + cmd
        wrk_cpus = ",".join(str(c) for c in range(os.cpu_count()) if str(c) != args.cpu)
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, "IRSA_LOG": "warn"})
    env = dict(line.strip()[len("export "):].split("=", 1) for line in (server.stdout.readline(), server.stdout.readline()))
    os.environ.update(env)
    wait_port(int(listen.rsplit(":", 1)[1]))
    session = boto3.session.Session()
    iam = session.client("iam")
    trust = (ROOT / "examples" / "trust-policy.json").read_text()
    iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=trust)

    # Accounts for CreateRole: 1,000 roles each.
    total = args.expected_rate * args.duration
    accounts = []
    for i in range((total + 999) // 1000):
        account_id = f"{200000000000 + i}"
        out = subprocess.run([args.binary, "account", "create", "--data-dir", data, "--id", account_id,
                              "--profile", f"bench-{i}"], capture_output=True, text=True, check=True)
        prof = boto3.session.Session(profile_name=f"bench-{i}").get_credentials()
        accounts.append(Credentials(prof.access_key, prof.secret_key))
    encoded_trust = trust.replace("\n", "").replace(" ", "")
    from urllib.parse import quote
    creates = [
        signed(listen, accounts[n // 1000],
               f"Action=CreateRole&Version=2010-05-08&RoleName=r{n}&AssumeRolePolicyDocument={quote(encoded_trust, safe='')}")
        for n in range(total)
    ]
    root = session.get_credentials()
    tag = signed(listen, root, "Action=TagRole&Version=2010-05-08&RoleName=bench-role&Tags.member.1.Key=team&Tags.member.1.Value=a")
    get = signed(listen, root, "Action=GetRole&Version=2010-05-08&RoleName=bench-role")

    rows = []
    for name, reqs in (("CreateRole", creates), ("TagRole", [tag]), ("GetRole", [get])):
        lua = Path(data) / f"{name}.lua"
        lua_many(lua, reqs)
        rate, p50, p99, bad, text = run_wrk(listen, lua, args, wrk_cpus)
        rows.append((name, rate, p50, p99, bad))
        if bad:
            print(f"{name}: {bad} non-2xx answers (CreateRole past its pre-signed list repeats the last name)",
                  file=sys.stderr)
    peak = rss(server.pid)[1]
    server.terminate()
    server.wait()
    print("| call | requests/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|")
    for name, rate, p50, p99, bad in rows:
        print(f"| {name} | {rate:,.0f} | {p50} | {p99} | {bad} |")
    print(f"server peak RSS {peak:.1f} MB")


if __name__ == "__main__":
    main()
