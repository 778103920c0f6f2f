#!/usr/bin/env python3
"""S3 side by side: `irsa serve` and moto's server, in one run on this machine.

For each target:
1. signed GetObject and PutObject of 4 KiB, each signed once by botocore
   (SigV4, header auth, the body's SHA-256 in x-amz-content-sha256) and
   replayed by wrk. irsa's requests carry a pod's session credentials from
   AssumeRoleWithWebIdentity, so every one is verified (session token
   unsealed, SigV4, body hash), authorized by the policy engine (role policy
   plus bucket), and every PutObject is fsync'ed before its answer. moto
   checks no signature and keeps objects in memory.
2. a 1 GiB PutObject and GetObject through presigned URLs with curl (one
   stream each way): throughput and the server's peak RSS.
3. ListObjectsV2 over 100,000 keys: the time to page through all of them
   with boto3 (1,000 a page), median of 3, and wrk on the signed first page.

Usage (from the repository root, after scripts/test created .venv):
    cargo build --release -p irsa
    python3 -m venv /tmp/moto-venv && /tmp/moto-venv/bin/pip install 'moto[server]'
    .venv/bin/python bench/s3.py --moto /tmp/moto-venv/bin/moto_server [--duration 10]
The server runs on CPU 0 and wrk on CPU 1 (taskset).
"""

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from common import ROOT, free_port, rss, wait_port

TRUST = (ROOT / "examples" / "trust-policy.json").read_text()
BUCKET = "bench"
SMALL = b"a" * 4096
KEYS = 100_000


def start_irsa(binary):
    data = tempfile.mkdtemp(prefix="irsa-bench-")
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", "0", binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "IRSA_LOG": "warn"})
    env = dict(line.strip()[len("export "):].split("=", 1) for line in (proc.stdout.readline(), proc.stdout.readline()))
    os.environ.update(env)
    wait_port(port)
    subprocess.run([binary, "cluster", "associate-oidc-provider", "my-cluster", "--data-dir", data], check=True,
                   capture_output=True)
    session = boto3.session.Session()
    issuer = session.client("eks").describe_cluster(name="my-cluster")["cluster"]["identity"]["oidc"]["issuer"]
    trust = TRUST.replace("oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
                          issuer.removeprefix("http://"))
    iam = session.client("iam")
    iam.create_role(RoleName="s3-app-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="s3-app-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    token = subprocess.run([binary, "token", "--data-dir", data, "--namespace", "production", "--service-account",
                            "s3-app"], check=True, capture_output=True, text=True).stdout.strip()
    c = session.client("sts").assume_role_with_web_identity(
        RoleArn="arn:aws:iam::123456789012:role/s3-app-role", RoleSessionName="bench",
        WebIdentityToken=token)["Credentials"]
    creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    return proc, port, creds, data


def start_moto(exe):
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", "0", exe, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port, Credentials("AKIDBENCH", "secret", None), None


def client(port, creds):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                        aws_session_token=creds.token,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      max_pool_connections=16))


def signed(port, creds, method, path, body=b""):
    req = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body)
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def lua_script(path, method, headers, body=b""):
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f'wrk.body = "{body.decode()}"')
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")


def wrk(port, path, script, duration, connections):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s",
                          "--latency", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0


def curl(args):
    started = time.monotonic()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True, text=True)
    return out.stdout, time.monotonic() - started


def fill(port, count):
    """Creates `count` keys with anonymous PUTs (the bucket policy allows
    them), so that creating them costs no signing on the client."""
    import http.client

    def worker(start):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for n in range(start, count, 8):
            conn.request("PUT", f"/{BUCKET}-list/key/{n:06d}", body=b"x")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))


def run(name, proc, port, creds, args, tmp):
    s3 = client(port, creds)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="obj", Body=SMALL)
    result = {"target": name}

    get = tmp / f"{name}-get.lua"
    lua_script(get, "GET", signed(port, creds, "GET", f"/{BUCKET}/obj"))
    result["get"] = wrk(port, f"/{BUCKET}/obj", get, args.duration, args.connections)
    put = tmp / f"{name}-put.lua"
    lua_script(put, "PUT", signed(port, creds, "PUT", f"/{BUCKET}/obj", SMALL), SMALL)
    result["put"] = wrk(port, f"/{BUCKET}/obj", put, args.duration, args.connections)
    result["rss_small"] = rss(proc.pid)

    big = tmp / "big"
    if not big.exists():
        with open(big, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(1024):
                f.write(chunk)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "big"})
    code, put_s = curl(["-T", str(big), url])
    assert code == "200", code
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "big"})
    code, get_s = curl([url])
    assert code == "200", code
    result["big"] = (1024 / put_s, 1024 / get_s)
    result["rss_big"] = rss(proc.pid)

    s3.create_bucket(Bucket=f"{BUCKET}-list")
    s3.delete_public_access_block(Bucket=f"{BUCKET}-list")
    s3.put_bucket_policy(Bucket=f"{BUCKET}-list", Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject",'
        f'"Resource":"arn:aws:s3:::{BUCKET}-list/*"}}]}}'))
    started = time.monotonic()
    fill(port, KEYS)
    result["fill_s"] = time.monotonic() - started
    times = []
    for _ in range(3):
        started = time.monotonic()
        n = sum(len(p.get("Contents", [])) for p in
                s3.get_paginator("list_objects_v2").paginate(Bucket=f"{BUCKET}-list"))
        times.append(time.monotonic() - started)
        assert n == KEYS, n
    result["list_all_s"] = statistics.median(times)
    page = tmp / f"{name}-list.lua"
    lua_script(page, "GET", signed(port, creds, "GET", f"/{BUCKET}-list?list-type=2"))
    result["list_page"] = wrk(port, f"/{BUCKET}-list?list-type=2", page, args.duration, args.connections)
    result["rss_end"] = rss(proc.pid)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    ap.add_argument("--moto", help="path of moto_server; without it only irsa runs")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    results = []
    targets = [("irsa", lambda: start_irsa(args.binary))]
    if args.moto:
        targets.append(("moto", lambda: start_moto(args.moto)))
    for name, start in targets:
        proc, port, creds, _ = start()
        try:
            results.append(run(name, proc, port, creds, args, tmp))
        finally:
            proc.terminate()
            proc.wait()
        print(results[-1], file=sys.stderr)
    print("| figure | " + " | ".join(r["target"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    row = lambda label, f: print(f"| {label} | " + " | ".join(f(r) for r in results) + " |")
    row("GetObject 4 KiB, requests/s (p99)", lambda r: f"{r['get'][0]:,.0f} ({r['get'][1]}){' errors ' + str(r['get'][2]) if r['get'][2] else ''}")
    row("PutObject 4 KiB, requests/s (p99)", lambda r: f"{r['put'][0]:,.0f} ({r['put'][1]}){' errors ' + str(r['put'][2]) if r['put'][2] else ''}")
    row("PutObject 1 GiB, MiB/s", lambda r: f"{r['big'][0]:,.0f}")
    row("GetObject 1 GiB, MiB/s", lambda r: f"{r['big'][1]:,.0f}")
    row("peak RSS after 4 KiB load / after 1 GiB, MiB", lambda r: f"{r['rss_small'][1]:.1f} / {r['rss_big'][1]:.1f}")
    row(f"{KEYS:,} anonymous PUTs to fill the listing bucket, s", lambda r: f"{r['fill_s']:.1f}")
    row(f"ListObjectsV2 through all {KEYS:,} keys (100 pages, boto3), s", lambda r: f"{r['list_all_s']:.2f}")
    row("ListObjectsV2 first page (1,000 keys), requests/s (p99)", lambda r: f"{r['list_page'][0]:,.0f} ({r['list_page'][1]})")
    row("peak RSS at the end, MiB", lambda r: f"{r['rss_end'][1]:.1f}")


if __name__ == "__main__":
    main()
