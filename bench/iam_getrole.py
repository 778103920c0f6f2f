#!/usr/bin/env python3
"""Load benchmark: signed iam:GetRole against `irsa serve` on loopback with wrk.

One request is signed once with botocore's SigV4 signer and replayed (a
signature stays valid for 15 minutes), so the load tool spends nothing on
signing while the server verifies every request in full: SigV4, key lookup,
policy authorization, SQLite read, XML.

Usage (from the repository root, after scripts/test created .venv):
    cargo build --release -p irsa
    .venv/bin/python bench/iam_getrole.py [--duration 20] [--connections 64] [--threads 1]
Prints wrk's report, then the server's RSS (current and peak) from /proc.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from common import ROOT, free_port, rss, wait_port
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest





def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="irsa-bench-")
    listen = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [args.binary, "serve", "--data-dir", data, "--listen", listen],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "IRSA_LOG": "warn"},
    )
    env = dict(line.strip()[len("export "):].split("=", 1) for line in (server.stdout.readline(), server.stdout.readline()))
    os.environ.update(env)
    time.sleep(0.5)
    session = boto3.session.Session()
    iam = session.client("iam")
    trust = (ROOT / "examples" / "trust-policy.json").read_text()
    iam.create_role(RoleName="s3-app-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="s3-app-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")

    body = "Action=GetRole&Version=2010-05-08&RoleName=s3-app-role"
    req = AWSRequest(method="POST", url=f"http://{listen}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(session.get_credentials(), "iam", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items()}
    lua = Path(data) / "getrole.lua"
    lines = ['wrk.method = "POST"', f'wrk.body = "{body}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lua.write_text("\n".join(lines) + "\n")

    # Check the replayed request succeeds before loading the server.
    check = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", f"http://{listen}/",
                            "--data", body] + sum((["-H", f"{k}: {v}"] for k, v in headers.items()), []),
                           capture_output=True, text=True)
    if check.stdout != "200":
        print("signed GetRole was refused:", check.stdout, file=sys.stderr)
        server.terminate()
        sys.exit(1)
    before = rss(server.pid)
    out = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
                          "--latency", "-s", str(lua), f"http://{listen}/"], capture_output=True, text=True)
    after = rss(server.pid)
    print(out.stdout)
    print(f"server RSS: idle {before[0]:.1f} MB, after load {after[0]:.1f} MB, peak {after[1]:.1f} MB")
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
