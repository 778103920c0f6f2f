"""`irsa webhook` as an operator runs it: the real binary over HTTPS
(openssl-made certificate), ServiceAccounts from a file re-read on change,
and the chain closed: the env vars the webhook injects, with a token where
its projected volume puts it, get credentials from `irsa serve` through the
aws CLI and boto3."""

import base64
import http.client
import json
import os
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, free_port, irsa_bin
from test_irsa import ROLE_ARN, cli, pod_env, setup_tutorial, token


def certificate(directory: Path):
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Webhook:
    def __init__(self, tmp: Path, *flags):
        self.cert, self.key = certificate(tmp)
        self.port = free_port()
        self.log = open(tmp / "webhook.log", "w")
        self.proc = subprocess.Popen([irsa_bin(), "webhook", "--listen", f"127.0.0.1:{self.port}",
                                      "--tls-cert", str(self.cert), "--tls-key", str(self.key), *flags],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.context = ssl.create_default_context(cafile=str(self.cert))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("irsa webhook did not become ready")

    def connection(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=10)

    def get(self, path):
        c = self.connection()
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()

    def admit(self, pod, namespace="production", version="admission.k8s.io/v1"):
        review = {"apiVersion": version, "kind": "AdmissionReview",
                  "request": {"uid": "e2e", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                              "operation": "CREATE", "namespace": namespace, "object": pod}}
        c = self.connection()
        c.request("POST", "/mutate", body=json.dumps(review), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def apply_patch(pod, answer):
    """RFC 6902 `add` operations, the only ones the webhook emits."""
    pod = json.loads(json.dumps(pod))
    if "patch" not in answer["response"]:
        return pod
    for op in json.loads(base64.b64decode(answer["response"]["patch"])):
        assert op["op"] == "add", op
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = pod
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if last == "-":
            target.append(op["value"])
        elif isinstance(target, list):
            target.insert(int(last), op["value"])
        else:
            target[last] = op["value"]
    return pod


def s3_reader():
    """A pod of the s3-app ServiceAccount, as the API server sends it (JSON)."""
    out = subprocess.run([irsa_bin(), "webhook", "mutate", "--patch", str(EXAMPLES / "s3-reader-pod.yaml")],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [], "no ServiceAccounts given: nothing to inject"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "s3-reader-"},
            "spec": {"serviceAccountName": "s3-app",
                     "containers": [{"name": "aws-cli", "image": "amazon/aws-cli:latest"}]}}


def test_the_webhook_binary_over_https_follows_its_service_account_file(tmp_path):
    accounts = tmp_path / "service-accounts.yaml"
    accounts.write_text((EXAMPLES / "s3-app-serviceaccount.yaml").read_text())
    hook = Webhook(tmp_path, "--service-accounts", str(accounts), "--aws-default-region", "eu-west-1")
    try:
        pod = s3_reader()
        for version in ("admission.k8s.io/v1", "admission.k8s.io/v1beta1"):
            status, answer = hook.admit(pod, version=version)
            assert status == 200 and answer["apiVersion"] == version
            env = {e["name"]: e["value"] for e in apply_patch(pod, answer)["spec"]["containers"][0]["env"]}
            assert env == {"AWS_STS_REGIONAL_ENDPOINTS": "regional", "AWS_DEFAULT_REGION": "eu-west-1",
                           "AWS_REGION": "eu-west-1", "AWS_ROLE_ARN": ROLE_ARN,
                           "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}
        # The operator changes the role: picked up without a restart.
        accounts.write_text(accounts.read_text().replace("s3-app-role", "s3-other-role"))
        deadline = time.time() + 10
        while True:
            _, answer = hook.admit(pod)
            env = {e["name"]: e["value"] for e in apply_patch(pod, answer)["spec"]["containers"][0]["env"]}
            if env["AWS_ROLE_ARN"].endswith("s3-other-role"):
                break
            assert time.time() < deadline, "the new file was not picked up"
            time.sleep(0.2)
        # A broken file keeps the last good one.
        accounts.write_text("kind: [")
        time.sleep(1.5)
        _, answer = hook.admit(pod)
        assert "patch" in answer["response"]
        assert hook.proc.poll() is None
        status, metrics = hook.get("/metrics")
        assert status == 200 and 'irsa_webhook_mutations_total{method="sts_web_identity"}' in metrics
    finally:
        hook.stop()
    assert "cannot load; keeping the previous version" in (tmp_path / "webhook.log").read_text()


def test_what_the_webhook_injects_gets_credentials_from_irsa_serve(irsa, tmp_path):
    setup_tutorial(irsa)
    # The kubelet's part: the projected token at the mount path.
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    token(irsa, path=mount / "token")
    hook = Webhook(tmp_path, "--service-accounts", str(EXAMPLES / "s3-app-serviceaccount.yaml"),
                   "--token-mount-path", str(mount))
    try:
        status, answer = hook.admit(s3_reader())
    finally:
        hook.stop()
    assert status == 200
    injected = {e["name"]: e["value"] for e in apply_patch(s3_reader(), answer)["spec"]["containers"][0]["env"]}
    env = pod_env(irsa, injected["AWS_WEB_IDENTITY_TOKEN_FILE"])
    env.update(injected)
    ident = cli(env, "sts", "get-caller-identity")
    assert ident["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/s3-app-role/")
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
    arn = subprocess.run([os.sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert "assumed-role/s3-app-role/" in arn


def test_the_webhook_refuses_to_start_on_bad_certificates(tmp_path):
    cert, key = certificate(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = certificate(tmp_path / "other")
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    for flags, message in [
        (["--tls-cert", str(bogus), "--tls-key", str(key)], "no certificate in the file"),
        (["--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(key)], "missing.crt"),
        (["--tls-cert", str(cert), "--tls-key", str(other_key)], "--tls-cert/--tls-key"),
    ]:
        out = subprocess.run([irsa_bin(), "webhook", "--listen", f"127.0.0.1:{free_port()}", "--service-accounts",
                              str(EXAMPLES / "s3-app-serviceaccount.yaml"), *flags],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 2, out
        assert message in out.stderr, out.stderr
