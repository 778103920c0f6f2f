#!/usr/bin/env python3
"""Load benchmark: `irsa webhook` admissions over HTTPS on loopback, with
50,000 ServiceAccounts in its cache.

The cache is filled either from a file (`--source file`) or from a small
Kubernetes API server run by this script (`--source api`: paged
PartialObjectMetadata list, then a watch that stays open), as in a cluster.
One AdmissionReview (v1) of a pod whose ServiceAccount has a role is replayed
by wrk over TLS; every request is parsed, looked up and patched.

Usage (from the repository root):
    cargo build --release -p irsa
    .venv/bin/python bench/webhook_admission.py [--source file|api] [--accounts 50000] [--connections 16]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import ROOT, free_port, rss

ROLE = "arn:aws:iam::111122223333:role/app-{i}"


def accounts(n):
    for i in range(n):
        yield {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": f"app-{i}", "namespace": f"team-{i % 500}", "resourceVersion": str(1000 + i),
                            "uid": f"00000000-0000-0000-0000-{i:012d}",
                            "annotations": {"eks.amazonaws.com/role-arn": ROLE.format(i=i),
                                            "eks.amazonaws.com/sts-regional-endpoints": "true"}}}


def serve_api(n):
    """A paged list and a never-ending watch, as the API server answers them."""
    items = [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": a["metadata"]}
             for a in accounts(n)]

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
            if q.get("watch") in ("true", "1"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                time.sleep(3600)
                return
            limit = int(q.get("limit", "500"))
            start = int(q.get("continue") or 0)
            page = items[start:start + limit]
            rest = start + limit < len(items)
            body = json.dumps({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                               "metadata": {"resourceVersion": "999999", **({"continue": str(start + limit)} if rest else {})},
                               "items": page}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=["file", "api"], default="file")
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "irsa"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="irsa-webhook-bench-"))
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    if args.source == "file":
        source = tmp / "service-accounts.json"
        # JSON is YAML: one List document.
        source.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(accounts(args.accounts))}))
        flags = ["--service-accounts", str(source)]
    else:
        api = serve_api(args.accounts)
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: http://127.0.0.1:{api}\n"
                              "users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: b\n  context:\n    cluster: b\n"
                              "    user: u\ncurrent-context: b\n")
        flags = ["--kubeconfig", str(kubeconfig)]
    port = free_port()
    proc = subprocess.Popen([args.binary, "webhook", "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert),
                             "--tls-key", str(key), *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"IRSA_LOG": "warn", "PATH": "/usr/bin:/bin"})
    started = time.time()
    while True:
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", f"https://127.0.0.1:{port}/readyz"],
                           capture_output=True, text=True)
        if r.stdout == "200":
            break
        if time.time() - started > 120 or proc.poll() is not None:
            print("the webhook did not become ready", file=sys.stderr)
            proc.kill()
            sys.exit(1)
        time.sleep(0.1)
    synced = time.time() - started
    metrics = subprocess.run(["curl", "-sk", f"https://127.0.0.1:{port}/metrics"], capture_output=True, text=True).stdout
    if f"irsa_webhook_service_accounts {args.accounts}" not in metrics:
        print("the cache does not hold every ServiceAccount", file=sys.stderr)
        proc.kill()
        sys.exit(1)
    time.sleep(2)
    idle = rss(proc.pid)
    i = args.accounts // 2
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                          "kind": {"group": "", "version": "v1", "kind": "Pod"},
                          "resource": {"group": "", "version": "v1", "resource": "pods"},
                          "operation": "CREATE", "namespace": f"team-{i % 500}",
                          "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                          "object": {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"generateName": "app-7d9f8c-", "labels": {"app": "app"}},
                                     "spec": {"serviceAccountName": f"app-{i}",
                                              "containers": [{"name": "app", "image": "registry.example.com/app:1.2.3",
                                                              "env": [{"name": "LOG_LEVEL", "value": "info"}],
                                                              "ports": [{"containerPort": 8080}],
                                                              "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                                                             {"name": "sidecar", "image": "registry.example.com/proxy:2"}],
                                              "volumes": [{"name": "config", "configMap": {"name": "app"}}]}}}}
    body = json.dumps(review)
    check = subprocess.run(["curl", "-sk", "-H", "Content-Type: application/json", "--data", body,
                            f"https://127.0.0.1:{port}/mutate"], capture_output=True, text=True)
    if '"patch"' not in check.stdout:
        print("the review was not mutated:", check.stdout, file=sys.stderr)
        proc.kill()
        sys.exit(1)
    lua = tmp / "admit.lua"
    lua.write_text('wrk.method = "POST"\n'
                   f'wrk.body = [[{body}]]\n'
                   'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
                          "--latency", "-s", str(lua), f"https://127.0.0.1:{port}/mutate"], capture_output=True, text=True)
    print(f"source: {args.source}, {args.accounts} ServiceAccounts, cache ready after {synced:.1f} s")
    print(out.stdout)
    after = rss(proc.pid)
    print(f"webhook RSS with the cache loaded {idle[0]:.1f} MB (peak while loading {idle[1]:.1f} MB); "
          f"after load {after[0]:.1f} MB, peak {after[1]:.1f} MB")
    proc.terminate()
    proc.wait()


if __name__ == "__main__":
    main()
