"""The tutorial's whole IRSA flow with the real aws CLI and boto3 against
`irsa serve`: the cluster's issuer, the OIDC provider, the role and its trust
policy, a ServiceAccount token, AssumeRoleWithWebIdentity by hand and by the
SDKs' own web-identity support, a cross-account hop, and refusals."""

import base64
import json
import os
import time
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from pathlib import Path
import botocore.exceptions
import pytest

from conftest import EXAMPLES, irsa_bin

ROLE_ARN = "arn:aws:iam::123456789012:role/s3-app-role"


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def cli(env, *args):
    """Runs the aws CLI with `env` only; fails with its stderr."""
    out = subprocess.run(["aws", *args, "--output", "json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def token(irsa, namespace="production", sa="s3-app", path=None, cluster="my-cluster"):
    out = path or (irsa.data_dir / f"{namespace}-{sa}.jwt")
    run(irsa_bin(), "token", "--data-dir", str(irsa.data_dir), "--cluster", cluster,
        "--namespace", namespace, "--service-account", sa, "--output", str(out))
    return out


def setup_tutorial(irsa):
    """The tutorial's first steps, as its scripts run them."""
    issuer = irsa.aws("eks", "describe-cluster", "--name", "my-cluster", "--query",
                      "cluster.identity.oidc.issuer", "--output", "text").stdout.strip()
    assert issuer.startswith(f"http://{irsa.listen}/oidc/id/")
    oidc_id = issuer.split("/")[5]
    assert len(oidc_id) == 32
    irsa.aws("iam", "create-open-id-connect-provider", "--url", issuer, "--client-id-list", "sts.amazonaws.com")
    host = issuer.removeprefix("http://")
    trust = (EXAMPLES / "trust-policy.json").read_text().replace(
        "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", host)
    trust_file = irsa.data_dir / "trust-policy.json"
    trust_file.write_text(trust)
    irsa.aws("iam", "create-role", "--role-name", "s3-app-role",
             "--assume-role-policy-document", f"file://{trust_file}",
             "--description", "Role for Kubernetes s3-app ServiceAccount")
    irsa.aws("iam", "attach-role-policy", "--role-name", "s3-app-role",
             "--policy-arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    irsa.aws("iam", "attach-role-policy", "--role-name", "s3-app-role",
             "--policy-arn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    return issuer


def pod_env(irsa, token_file):
    """What the pod identity webhook injects, plus the endpoint: no keys."""
    env = {k: v for k, v in irsa.env.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ROLE_ARN": ROLE_ARN,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ENDPOINT_URL": f"http://{irsa.listen}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        # The CLI caches web-identity credentials under ~/.aws/cli/cache by role
        # ARN; each test's server has its own session keys, so each pod gets
        # its own home.
        "HOME": str(irsa.data_dir / "home"),
    })
    return env


def test_tutorial_flow_by_hand_and_through_the_sdks(irsa):
    setup_tutorial(irsa)
    tok = token(irsa)
    out = json.loads(irsa.aws("sts", "assume-role-with-web-identity", "--role-arn", ROLE_ARN,
                              "--role-session-name", "s3-app", "--web-identity-token", f"file://{tok}").stdout)
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/s3-app-role/s3-app"
    assert out["SubjectFromWebIdentityToken"] == "system:serviceaccount:production:s3-app"
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")

    # The aws CLI, configured only by the variables the webhook injects.
    env = pod_env(irsa, tok)
    ident = cli(env, "sts", "get-caller-identity")
    assert ident["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/s3-app-role/botocore-session-")
    roles = cli(env, "iam", "list-roles")
    assert [r["RoleName"] for r in roles["Roles"]] == ["s3-app-role"]

    # boto3, the same way, in a clean process.
    script = ("import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])")
    arn = subprocess.run([os.sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert "assumed-role/s3-app-role/" in arn

    # The role may read IAM, not change it: AccessDenied with AWS's reason.
    denied = subprocess.run(["aws", "iam", "create-role", "--role-name", "x", "--assume-role-policy-document",
                             f"file://{EXAMPLES / 'trust-policy.json'}"], env=env, capture_output=True, text=True)
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr
    assert "because no identity-based policy allows the iam:CreateRole action" in denied.stderr


def test_a_token_of_another_service_account_is_denied(irsa):
    setup_tutorial(irsa)
    sts = irsa.session().client("sts")
    for namespace, sa in [("default", "s3-app"), ("production", "other-app")]:
        tok = token(irsa, namespace, sa).read_text()
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="session", WebIdentityToken=tok)
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def test_audience_provider_and_expiry_errors(irsa):
    setup_tutorial(irsa)
    sts = irsa.session().client("sts")
    wrong_aud = irsa.data_dir / "vault.jwt"
    run(irsa_bin(), "token", "--data-dir", str(irsa.data_dir), "--namespace", "production",
        "--service-account", "s3-app", "--audience", "vault", "--output", str(wrong_aud))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="session", WebIdentityToken=wrong_aud.read_text())
    assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == ("InvalidIdentityToken", "Incorrect token audience")
    run(irsa_bin(), "cluster", "create", "--data-dir", str(irsa.data_dir), "staging")
    staging = token(irsa, cluster="staging")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="session", WebIdentityToken=staging.read_text())
    assert e.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert e.value.response["Error"]["Message"].startswith("No OpenIDConnect provider found in your account for http://")


def test_cross_account_hop_of_the_tutorial(irsa):
    setup_tutorial(irsa)
    run(irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098", "--profile", "target-account")
    irsa.aws("iam", "create-role", "--role-name", "cross-account-s3-access", "--assume-role-policy-document",
             f"file://{EXAMPLES / 'cross-account-trust-policy.json'}", profile="target-account")
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "assume-cross-account",
             "--policy-document", f"file://{EXAMPLES / 'assume-role-policy.json'}")
    env = pod_env(irsa, token(irsa))
    out = cli(env, "sts", "assume-role", "--role-arn", "arn:aws:iam::987654321098:role/cross-account-s3-access",
              "--role-session-name", "cross-account-session")
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::987654321098:assumed-role/cross-account-s3-access/cross-account-session"
    creds = out["Credentials"]
    hop = boto3.client("sts", endpoint_url=f"http://{irsa.listen}", region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    assert hop.get_caller_identity()["Account"] == "987654321098"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_issuer_served_by_the_test_itself(irsa, tmp_path):
    """A self-managed cluster: the operator's key made with openssl, its
    discovery files written by `irsa oidc discovery` and served by a plain HTTP
    server; a token signed with that key is exchanged through the aws CLI."""
    key, pub = tmp_path / "sa.key", tmp_path / "sa.pub"
    run("openssl", "genrsa", "-out", str(key), "2048")
    run("openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub))
    files = tmp_path / "bucket"

    class Files(BaseHTTPRequestHandler):
        def do_GET(self):
            path = files / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # `oidc discovery` insists on https for real issuers; the loopback test
        # issuer gets the same files with its http URL substituted.
        https = "https://oidc.example.com"
        run(irsa_bin(), "oidc", "discovery", "--issuer", https, "--public-key", str(pub), "--out", str(files))
        discovery = files / ".well-known" / "openid-configuration"
        discovery.write_text(discovery.read_text().replace(https, issuer))
        kid = json.loads((files / "keys.json").read_text())["keys"][0]["kid"]

        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "kid": kid}).encode())
        payload = b64url(json.dumps({"iss": issuer, "sub": "system:serviceaccount:production:s3-app",
                                     "aud": ["sts.amazonaws.com"], "iat": now, "exp": now + 600}).encode())
        signing_input = f"{header}.{payload}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input.encode(),
                             capture_output=True, check=True).stdout
        jwt = tmp_path / "token.jwt"
        jwt.write_text(f"{signing_input}.{b64url(sig)}")

        irsa.aws("iam", "create-open-id-connect-provider", "--url", issuer, "--client-id-list", "sts.amazonaws.com")
        host = issuer.removeprefix("http://")
        trust = (EXAMPLES / "trust-policy.json").read_text().replace(
            "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", host)
        (tmp_path / "trust.json").write_text(trust)
        irsa.aws("iam", "create-role", "--role-name", "s3-app-role", "--assume-role-policy-document", f"file://{tmp_path / 'trust.json'}")
        ident = cli(pod_env(irsa, jwt), "sts", "get-caller-identity")
        assert ident["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/s3-app-role/")
    finally:
        server.shutdown()


JS = Path(__file__).resolve().parent / "js"


@pytest.mark.skipif(not (JS / "node_modules").is_dir(), reason="needs `npm install` in tests/e2e/js (scripts/test does it)")
def test_the_javascript_sdk_with_the_web_identity_variables(irsa):
    setup_tutorial(irsa)
    env = pod_env(irsa, token(irsa))
    env["AWS_REGION"] = "us-east-1"
    out = subprocess.run(["node", str(JS / "whoami.mjs")], env=env, capture_output=True, text=True, cwd=JS)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["arn"].startswith("arn:aws:sts::123456789012:assumed-role/s3-app-role/aws-sdk-js-session-")
    # IAMReadOnlyAccess is attached in setup_tutorial.
    assert result["listRoles"] == {"ok": True, "roles": ["s3-app-role"]}


def test_simulator_agrees_with_the_real_signed_calls(irsa):
    setup_tutorial(irsa)
    sim = json.loads(irsa.aws("iam", "simulate-principal-policy", "--policy-source-arn", ROLE_ARN,
                              "--action-names", "iam:ListRoles", "iam:CreateRole", "s3:GetObject",
                              "--resource-arns", "*").stdout)
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in sim["EvaluationResults"]}
    assert decisions == {"iam:ListRoles": "allowed", "iam:CreateRole": "implicitDeny", "s3:GetObject": "allowed"}
    env = pod_env(irsa, token(irsa))
    cli(env, "iam", "list-roles")
    denied = subprocess.run(["aws", "iam", "create-role", "--role-name", "x", "--assume-role-policy-document",
                             f"file://{EXAMPLES / 'trust-policy.json'}"], env=env, capture_output=True, text=True)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    policy = (EXAMPLES / "conditions-policy.json").read_text()
    custom = json.loads(irsa.aws("iam", "simulate-custom-policy", "--policy-input-list", json.dumps([policy]),
                                 "--action-names", "s3:GetObject", "--resource-arns", "arn:aws:s3:::my-bucket/k").stdout)
    result = custom["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny"
    assert result["MissingContextValues"] == ["aws:SourceAccount", "aws:SourceIp"]


def test_doctor_names_the_broken_link(irsa):
    setup_tutorial(irsa)
    wrong = token(irsa, "default", "s3-app")
    out = subprocess.run([irsa_bin(), "doctor", "--data-dir", str(irsa.data_dir), "--role-arn", ROLE_ARN,
                          "--token", str(wrong)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "✗ trust: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity" in out.stdout
    assert "token has `system:serviceaccount:default:s3-app`, trust expects `system:serviceaccount:production:s3-app`" in out.stdout
    # The real exchange fails the same way.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        irsa.session().client("sts").assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="session", WebIdentityToken=wrong.read_text())
    assert e.value.response["Error"]["Code"] == "AccessDenied"
