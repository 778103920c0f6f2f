#!/usr/bin/env python3
"""Load benchmark: AssumeRoleWithWebIdentity with one valid ServiceAccount token,
replayed by wrk against `irsa serve` (or, with --target moto, against moto's
server as the common alternative) on loopback.

Each irsa request is verified in full: JWT signature (RS256) against the local
cluster's key, provider and audience, the trust policy's conditions, then a
session is sealed and returned. moto does not verify web identity tokens; the
comparison is of the same request on the same machine, nothing more.

Usage (from the repository root, after scripts/test created .venv):
    cargo build --release -p irsa
    .venv/bin/python bench/sts_web_identity.py [--target irsa|moto] [--duration 15] [--connections 64]
moto needs `pip install 'moto[server]'` in the venv.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import boto3

from common import ROOT, free_port, rss, wait_port

TRUST = (ROOT / "examples" / "trust-policy.json").read_text()





def start_irsa(binary, audit="on"):
    data = tempfile.mkdtemp(prefix="irsa-bench-")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--audit", audit],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "IRSA_LOG": "warn"})
    env = dict(line.strip()[len("export "):].split("=", 1) for line in (proc.stdout.readline(), proc.stdout.readline()))
    os.environ.update(env)
    wait_port(port)
    subprocess.run([binary, "cluster", "associate-oidc-provider", "my-cluster", "--data-dir", data], check=True, capture_output=True)
    iam = boto3.session.Session().client("iam")
    eks = boto3.session.Session().client("eks")
    issuer = eks.describe_cluster(name="my-cluster")["cluster"]["identity"]["oidc"]["issuer"]
    trust = TRUST.replace("oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", issuer.removeprefix("http://"))
    iam.create_role(RoleName="s3-app-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="s3-app-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    token = subprocess.run([binary, "token", "--data-dir", data, "--namespace", "production", "--service-account", "s3-app"],
                           check=True, capture_output=True, text=True).stdout.strip()
    return proc, port, token


def start_moto():
    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="AKIAEXAMPLEEXAMPLE00", aws_secret_access_key="x" * 40)
    iam.create_role(RoleName="s3-app-role", AssumeRolePolicyDocument=TRUST)
    return proc, port, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cHJvZHVjdGlvbjpzMy1hcHAifQ.c2ln"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", choices=["irsa", "moto"], default="irsa")
    ap.add_argument("--audit", choices=["on", "off"], default="on", help="irsa's audit trail")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    args = ap.parse_args()
    proc, port, token = start_irsa(args.binary, args.audit) if args.target == "irsa" else start_moto()
    body = urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
        "RoleArn": "arn:aws:iam::123456789012:role/s3-app-role",
        "RoleSessionName": "bench", "WebIdentityToken": token,
    })
    lua = Path(tempfile.mkdtemp()) / "arwwi.lua"
    lua.write_text('wrk.method = "POST"\n'
                   f'wrk.body = "{body}"\n'
                   'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"\n')
    check = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                            "-H", "Content-Type: application/x-www-form-urlencoded", "--data", body,
                            f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
    if check.stdout != "200":
        print("AssumeRoleWithWebIdentity was refused:", check.stdout, file=sys.stderr)
        proc.terminate()
        sys.exit(1)
    out = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
                          "--latency", "-s", str(lua), f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
    print(f"target: {args.target}" + (f", audit {args.audit}" if args.target == "irsa" else ""))
    print(out.stdout)
    mem = rss(proc.pid)
    print(f"server RSS after load {mem[0]:.1f} MB, peak {mem[1]:.1f} MB")
    proc.terminate()
    proc.wait()


if __name__ == "__main__":
    main()
