"""S3 behind the credentials: the tutorial's programs verbatim, its policies
enforced on real S3 requests with AWS's codes, cross-account access through a
bucket policy, presigned URLs, the aws CLI's s3 commands (multipart), and bad
input that changes nothing."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import EXAMPLES, ROOT, irsa_bin
from test_irsa import ROLE_ARN, cli, pod_env, run, setup_tutorial, token

SEED = Path(os.environ.get("IRSA_SEED", ROOT.parent / "shared" / "seed"))


def seed_program(name: str) -> str:
    """A program of the tutorial, verbatim from its text."""
    files = sorted(SEED.glob("*.txt")) if SEED.exists() else []
    if not files:
        pytest.skip(f"the tutorial text is not at {SEED} (set IRSA_SEED)")
    text = files[0].read_text()
    m = re.search(r"```python\n(# " + re.escape(name) + r"\n.*?)```", text, re.S)
    assert m, f"{name} not found in the tutorial"
    return m.group(1)


def run_program(env, source: str, tmp: Path):
    path = tmp / "program.py"
    path.write_text(source)
    return subprocess.run([os.sys.executable, str(path)], env=env, capture_output=True, text=True)


def admin_s3(irsa, profile="default"):
    return irsa.session(profile).client("s3", endpoint_url=f"http://{irsa.listen}")


def pod_s3(irsa, env):
    """boto3 in the test process with a pod's credentials."""
    creds = cli(env, "sts", "assume-role-with-web-identity", "--role-arn", env["AWS_ROLE_ARN"],
                "--role-session-name", "pod", "--web-identity-token", f"file://{env['AWS_WEB_IDENTITY_TOKEN_FILE']}")["Credentials"]
    return boto3.client("s3", endpoint_url=f"http://{irsa.listen}", region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", ""), \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_tutorials_programs_run_to_their_last_line(irsa, tmp_path):
    setup_tutorial(irsa)
    admin = admin_s3(irsa)
    admin.create_bucket(Bucket="my-bucket")
    env = pod_env(irsa, token(irsa))
    # Only what the webhook injects, and the endpoint.
    out = run_program(env, seed_program("s3_reader.py"), tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Account: 123456789012" in out.stdout
    assert "S3 Buckets:\n  - my-bucket" in out.stdout

    # The cross-account program: the target account's buckets, not ours.
    run(irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098",
        "--profile", "target-account")
    irsa.aws("iam", "create-role", "--role-name", "cross-account-s3-access", "--assume-role-policy-document",
             f"file://{EXAMPLES / 'cross-account-trust-policy.json'}", profile="target-account")
    irsa.aws("iam", "attach-role-policy", "--role-name", "cross-account-s3-access", "--policy-arn",
             "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", profile="target-account")
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "assume-cross-account",
             "--policy-document", f"file://{EXAMPLES / 'assume-role-policy.json'}")
    admin_s3(irsa, "target-account").create_bucket(Bucket="target-data")
    out = run_program(env, seed_program("cross_account_access.py"), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["  - target-data"]


def least_privilege_role(irsa):
    """The tutorial's role with only its least-privilege policy."""
    setup_tutorial(irsa)
    irsa.aws("iam", "detach-role-policy", "--role-name", "s3-app-role", "--policy-arn",
             "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "least-privilege",
             "--policy-document", f"file://{EXAMPLES / 'least-privilege-good.json'}")
    admin = admin_s3(irsa)
    admin.create_bucket(Bucket="my-bucket")
    admin.put_object(Bucket="my-bucket", Key="app-data/config.json", Body=b'{"ok":true}')
    admin.put_object(Bucket="my-bucket", Key="secrets/db.txt", Body=b"hunter2")
    return pod_s3(irsa, pod_env(irsa, token(irsa)))


def test_least_privilege_policy_is_enforced_with_s3s_codes(irsa):
    s3 = least_privilege_role(irsa)
    assert s3.get_object(Bucket="my-bucket", Key="app-data/config.json")["Body"].read() == b'{"ok":true}'
    code, message, status = error_of(lambda: s3.get_object(Bucket="my-bucket", Key="secrets/db.txt"))
    assert (code, status) == ("AccessDenied", 403)
    assert message == ('User: arn:aws:sts::123456789012:assumed-role/s3-app-role/pod is not authorized to perform: '
                       's3:GetObject on resource: "arn:aws:s3:::my-bucket/secrets/db.txt" because no '
                       'identity-based policy allows the s3:GetObject action')
    # A missing key under an allowed prefix: 403, not 404, without s3:ListBucket.
    code, message, status = error_of(lambda: s3.get_object(Bucket="my-bucket", Key="app-data/missing"))
    assert (code, status) == ("AccessDenied", 403)
    assert "s3:ListBucket" in message
    for call in (lambda: s3.put_object(Bucket="my-bucket", Key="app-data/x", Body=b"x"),
                 lambda: s3.list_objects_v2(Bucket="my-bucket"),
                 lambda: s3.list_buckets(),
                 lambda: s3.delete_object(Bucket="my-bucket", Key="app-data/config.json")):
        assert error_of(call)[0] == "AccessDenied"
    assert admin_s3(irsa).get_object(Bucket="my-bucket", Key="app-data/config.json")["Body"].read() == b'{"ok":true}'
    # The denial is in the audit trail with its reason.
    failed = run(irsa_bin(), "audit", "tail", "--data-dir", str(irsa.data_dir), "--failed", "--lines", "20")
    assert "GetObject" in failed and "AccessDenied" in failed


def test_condition_policy_of_the_tutorial(irsa):
    """conditions-policy.json: aws:SourceIp 10.0.0.0/8 refuses a loopback pod;
    aws:SourceAccount is only present when a service calls, so it never matches."""
    setup_tutorial(irsa)
    irsa.aws("iam", "detach-role-policy", "--role-name", "s3-app-role", "--policy-arn",
             "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "conditions",
             "--policy-document", f"file://{EXAMPLES / 'conditions-policy.json'}")
    admin_s3(irsa).create_bucket(Bucket="my-bucket")
    admin_s3(irsa).put_object(Bucket="my-bucket", Key="a", Body=b"a")
    s3 = pod_s3(irsa, pod_env(irsa, token(irsa)))
    assert error_of(lambda: s3.get_object(Bucket="my-bucket", Key="a"))[:1] == ("AccessDenied",)
    # The same policy narrowed to the loopback network allows the read.
    policy = json.loads((EXAMPLES / "conditions-policy.json").read_text())
    cond = policy["Statement"][0]["Condition"]
    del cond["StringEquals"]
    cond["IpAddress"]["aws:SourceIp"] = ["127.0.0.0/8"]
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "conditions",
             "--policy-document", json.dumps(policy))
    assert s3.get_object(Bucket="my-bucket", Key="a")["Body"].read() == b"a"


def test_cross_account_needs_both_the_identity_and_the_bucket_policy(irsa):
    """reference_policies_evaluation-logic-cross-account.html: a role of
    123456789012 reads a bucket of 987654321098 only when both allow."""
    setup_tutorial(irsa)  # the role has AmazonS3ReadOnlyAccess
    run(irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098",
        "--profile", "target-account")
    owner = admin_s3(irsa, "target-account")
    owner.create_bucket(Bucket="shared-data")
    owner.put_object(Bucket="shared-data", Key="report.csv", Body=b"a,b")
    s3 = pod_s3(irsa, pod_env(irsa, token(irsa)))
    code, message, _ = error_of(lambda: s3.get_object(Bucket="shared-data", Key="report.csv"))
    assert code == "AccessDenied"
    assert "because no resource-based policy allows the s3:GetObject action" in message
    owner.put_bucket_policy(Bucket="shared-data", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE_ARN},
                       "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": ["arn:aws:s3:::shared-data", "arn:aws:s3:::shared-data/*"]}]}))
    assert s3.get_object(Bucket="shared-data", Key="report.csv")["Body"].read() == b"a,b"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="shared-data")["Contents"]] == ["report.csv"]
    # The bucket grants a write the role's own policy does not: still denied.
    assert error_of(lambda: s3.put_object(Bucket="shared-data", Key="x", Body=b"x"))[0] == "AccessDenied"
    # The policy does not grant reading itself.
    assert error_of(lambda: s3.get_bucket_policy(Bucket="shared-data"))[0] == "AccessDenied"
    # Buckets are listed for their own account only.
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    # A name taken by another account.
    assert error_of(lambda: admin_s3(irsa).create_bucket(Bucket="shared-data"))[0] == "BucketAlreadyExists"


def test_presigned_urls_and_anonymous_access(irsa):
    v2 = admin_s3(irsa).generate_presigned_url("get_object", Params={"Bucket": "web-site", "Key": "x"})
    if "AWSAccessKeyId=" in v2:
        # botocore presigns with Signature Version 2 unless told otherwise:
        # refused in S3's words, as every region opened since 2014 does.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(v2)
        assert e.value.code == 400 and b"Please use AWS4-HMAC-SHA256" in e.value.read()
    admin = irsa.session().client("s3", endpoint_url=f"http://{irsa.listen}",
                                  config=Config(signature_version="s3v4"))
    admin.create_bucket(Bucket="web-site")
    admin.put_object(Bucket="web-site", Key="index.html", Body=b"<h1>hi</h1>", ContentType="text/html")
    url = admin.generate_presigned_url("get_object", Params={"Bucket": "web-site", "Key": "index.html"}, ExpiresIn=60)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"<h1>hi</h1>"
        assert r.headers["Content-Type"] == "text/html"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("index.html", "other.html"))
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    put_url = admin.generate_presigned_url("put_object", Params={"Bucket": "web-site", "Key": "up.txt"}, ExpiresIn=60)
    req = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
    urllib.request.urlopen(req).read()
    assert admin.get_object(Bucket="web-site", Key="up.txt")["Body"].read() == b"uploaded"

    plain = f"http://{irsa.listen}/web-site/index.html"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(plain)
    assert e.value.code == 403
    public = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::web-site/*"}]})
    # New buckets block public policies, as on AWS since April 2023.
    assert error_of(lambda: admin.put_bucket_policy(Bucket="web-site", Policy=public))[0] == "AccessDenied"
    admin.delete_public_access_block(Bucket="web-site")
    admin.put_bucket_policy(Bucket="web-site", Policy=public)
    assert admin.get_bucket_policy_status(Bucket="web-site")["PolicyStatus"]["IsPublic"] is True
    with urllib.request.urlopen(plain) as r:
        assert r.read() == b"<h1>hi</h1>"
    # Restricting public buckets takes the grant away again.
    admin.put_public_access_block(Bucket="web-site", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(plain)
    assert e.value.code == 403


def test_the_aws_cli_s3_commands_with_a_multipart_upload(irsa, tmp_path):
    irsa.aws("s3", "mb", "s3://cli-bucket")
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    big = src / "big.bin"
    with open(big, "wb") as f:
        for i in range(66):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 1 MiB each
    (src / "dir" / "a b+c.txt").write_text("spaces and plus")
    (src / "small.txt").write_text("small")
    irsa.aws("s3", "sync", str(src), "s3://cli-bucket/data", "--only-show-errors")
    head = json.loads(irsa.aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "data/big.bin").stdout)
    assert head["ContentLength"] == 66 * 1024 * 1024
    assert head["ETag"].endswith('-9"'), head["ETag"]  # 8 MiB parts
    listing = irsa.aws("s3", "ls", "s3://cli-bucket/data/", "--output", "text").stdout
    assert "PRE dir/" in listing and "small.txt" in listing
    dst = tmp_path / "dst"
    irsa.aws("s3", "sync", "s3://cli-bucket/data", str(dst), "--only-show-errors")
    assert (dst / "big.bin").read_bytes() == big.read_bytes()
    assert (dst / "dir" / "a b+c.txt").read_text() == "spaces and plus"
    assert "BucketNotEmpty" in irsa.aws("s3", "rb", "s3://cli-bucket", check=False).stderr
    irsa.aws("s3", "rm", "s3://cli-bucket", "--recursive", "--only-show-errors")
    irsa.aws("s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in irsa.aws("s3", "ls", "--output", "text").stdout
    # Nothing left behind on disk: every blob was removed with its object.
    blobs = list((irsa.data_dir / "s3" / "blobs").rglob("*"))
    assert [b for b in blobs if b.is_file()] == []


def test_boto3_objects_tags_copy_ranges_and_listing(irsa):
    s3 = admin_s3(irsa)
    s3.create_bucket(Bucket="things")
    s3.put_object(Bucket="things", Key="a/1.txt", Body=b"0123456789", Metadata={"owner": "me"},
                  Tagging="team=blue&env=dev", ContentType="text/plain")
    got = s3.get_object(Bucket="things", Key="a/1.txt", Range="bytes=2-4")
    assert got["Body"].read() == b"234" and got["ContentRange"] == "bytes 2-4/10"
    head = s3.head_object(Bucket="things", Key="a/1.txt")
    assert head["Metadata"] == {"owner": "me"} and head["ContentType"] == "text/plain"
    assert {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket="things", Key="a/1.txt")["TagSet"]} == {
        "team": "blue", "env": "dev"}
    etag = head["ETag"]
    assert error_of(lambda: s3.get_object(Bucket="things", Key="a/1.txt", IfMatch='"nope"'))[2] == 412
    assert error_of(lambda: s3.get_object(Bucket="things", Key="a/1.txt", IfNoneMatch=etag))[2] == 304
    assert error_of(lambda: s3.get_object(Bucket="things", Key="a/1.txt", Range="bytes=10-"))[:1] == ("InvalidRange",)
    s3.copy_object(Bucket="things", Key="b/copy.txt", CopySource={"Bucket": "things", "Key": "a/1.txt"})
    assert s3.get_object(Bucket="things", Key="b/copy.txt")["Body"].read() == b"0123456789"
    for i in range(5):
        s3.put_object(Bucket="things", Key=f"c/{i}", Body=b"")
    keys, token_ = [], None
    while True:
        kw = {"ContinuationToken": token_} if token_ else {}
        page = s3.list_objects_v2(Bucket="things", Prefix="c/", MaxKeys=2, **kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token_ = page["NextContinuationToken"]
    assert keys == [f"c/{i}" for i in range(5)]
    top = s3.list_objects(Bucket="things", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/", "c/"]
    deleted = s3.delete_objects(Bucket="things", Delete={"Objects": [{"Key": f"c/{i}"} for i in range(5)]})
    assert len(deleted["Deleted"]) == 5
    assert error_of(lambda: s3.get_object(Bucket="things", Key="c/0"))[:1] == ("NoSuchKey",)
    assert error_of(lambda: s3.get_object(Bucket="nope-bucket", Key="x"))[:1] == ("NoSuchBucket",)
    # What Terraform's aws_s3_bucket reads back from a new bucket.
    assert error_of(lambda: s3.get_bucket_cors(Bucket="things"))[0] == "NoSuchCORSConfiguration"
    assert s3.get_bucket_versioning(Bucket="things").get("Status") is None
    assert s3.get_bucket_ownership_controls(Bucket="things")["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    assert s3.get_bucket_location(Bucket="things")["LocationConstraint"] is None


def test_bad_input_is_refused_and_changes_nothing(irsa):
    s3 = admin_s3(irsa)
    assert error_of(lambda: s3.create_bucket(Bucket="Bad_Name"))[0] == "InvalidBucketName"
    s3.create_bucket(Bucket="strict")
    code = error_of(lambda: s3.put_object(Bucket="strict", Key="k", Body=b"data", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="))[0]
    assert code == "BadDigest"
    assert error_of(lambda: s3.head_object(Bucket="strict", Key="k"))[2] == 404
    code = error_of(lambda: s3.put_object(Bucket="strict", Key="k", Body=b"data", ChecksumCRC32="AAAAAA=="))[0]
    assert code == "BadDigest"
    assert error_of(lambda: s3.put_object(Bucket="strict", Key="k" * 1025, Body=b""))[0] == "KeyTooLongError"
    assert error_of(lambda: s3.put_bucket_policy(Bucket="strict", Policy="{not json"))[0] == "MalformedPolicy"
    assert error_of(lambda: s3.put_bucket_tagging(Bucket="strict", Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}))[0] == "InvalidTag"
    assert "Contents" not in s3.list_objects_v2(Bucket="strict")
    assert list((irsa.data_dir / "s3" / "tmp").iterdir()) == []
    # A body that does not match its signed SHA-256 (a raw request).
    session = irsa.session()
    creds = session.get_credentials()
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    req = AWSRequest(method="PUT", url=f"http://{irsa.listen}/strict/forged", data=b"original")
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    prepared = req.prepare()
    bad = urllib.request.Request(prepared.url, data=b"tampered", method="PUT", headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad)
    assert e.value.code == 400 and b"XAmzContentSHA256Mismatch" in e.value.read()
    assert error_of(lambda: s3.head_object(Bucket="strict", Key="forged"))[2] == 404


def test_the_javascript_sdk_puts_with_its_default_checksums(irsa):
    js = ROOT / "tests" / "e2e" / "js"
    if shutil.which("node") is None or not (js / "node_modules" / "@aws-sdk" / "client-s3").exists():
        pytest.skip("node or @aws-sdk/client-s3 is not installed (scripts/test runs npm ci)")
    setup_tutorial(irsa)
    irsa.aws("iam", "attach-role-policy", "--role-name", "s3-app-role", "--policy-arn",
             "arn:aws:iam::aws:policy/AmazonS3FullAccess")
    admin_s3(irsa).create_bucket(Bucket="js-bucket")
    env = {**pod_env(irsa, token(irsa)), "AWS_REGION": "us-east-1"}
    out = subprocess.run(["node", str(js / "s3.mjs"), "js-bucket", "from/js.txt", "hello from js"],
                         env=env, capture_output=True, text=True, cwd=js)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["body"] == "hello from js"
    assert got["putCrc32"] and got["putCrc32"] == got["getCrc32"]


def doctor(irsa, resource, action="s3:GetObject"):
    return subprocess.run([irsa_bin(), "doctor", "--data-dir", str(irsa.data_dir), "--role-arn", ROLE_ARN,
                           "--namespace", "production", "--service-account", "s3-app",
                           "--action", action, "--resource", resource], capture_output=True, text=True)


def simulate(irsa, resource, action="s3:GetObject"):
    out = json.loads(irsa.aws("iam", "simulate-principal-policy", "--policy-source-arn", ROLE_ARN,
                              "--action-names", action, "--resource-arns", resource).stdout)
    return out["EvaluationResults"][0]


def test_doctor_and_the_simulator_decide_with_the_buckets_real_policy(irsa):
    """The bucket policy and owner take part in `irsa doctor` and
    simulate-principal-policy as in the real request, so neither disagrees
    with it (reference_policies_evaluation-logic-cross-account.html)."""
    setup_tutorial(irsa)  # the role has AmazonS3ReadOnlyAccess
    run(irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098",
        "--profile", "target-account")
    owner = admin_s3(irsa, "target-account")
    owner.create_bucket(Bucket="shared-data")
    owner.put_object(Bucket="shared-data", Key="report.csv", Body=b"a,b")
    s3 = pod_s3(irsa, pod_env(irsa, token(irsa)))
    arn = "arn:aws:s3:::shared-data/report.csv"

    # Another account's bucket without a policy: all three deny.
    assert error_of(lambda: s3.get_object(Bucket="shared-data", Key="report.csv"))[0] == "AccessDenied"
    out = doctor(irsa, arn)
    assert out.returncode == 1, out.stdout
    assert "✗ permissions: AccessDenied" in out.stdout
    assert "because no resource-based policy allows the s3:GetObject action" in out.stdout
    assert "its bucket policy must allow arn:aws:iam::123456789012:role/s3-app-role" in out.stdout
    assert simulate(irsa, arn)["EvalDecision"] == "implicitDeny"

    # The owner grants the role: all three allow.
    grant = {"Version": "2012-10-17",
             "Statement": [{"Sid": "Grant", "Effect": "Allow", "Principal": {"AWS": ROLE_ARN},
                            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-data/*"}]}
    owner.put_bucket_policy(Bucket="shared-data", Policy=json.dumps(grant))
    assert s3.get_object(Bucket="shared-data", Key="report.csv")["Body"].read() == b"a,b"
    out = doctor(irsa, arn)
    assert out.returncode == 0, out.stdout
    assert "✓ permissions: the role's policies and the bucket policy (another account's bucket) allow" in out.stdout
    result = simulate(irsa, arn)
    assert result["EvalDecision"] == "allowed"
    assert {m["SourcePolicyType"] for m in result["MatchedStatements"]} >= {"resource"}

    # A bucket policy Deny in the role's own account wins over its identity policy.
    admin = admin_s3(irsa)
    admin.create_bucket(Bucket="my-bucket")
    admin.put_object(Bucket="my-bucket", Key="private/x", Body=b"x")
    admin.put_bucket_policy(Bucket="my-bucket", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::my-bucket/private/*"}]}))
    code, message, _ = error_of(lambda: s3.get_object(Bucket="my-bucket", Key="private/x"))
    assert code == "AccessDenied" and "explicit deny in a resource-based policy" in message
    out = doctor(irsa, "arn:aws:s3:::my-bucket/private/x")
    assert out.returncode == 1
    assert "explicit deny in a resource-based policy" in out.stdout
    assert "a Deny statement of the bucket policy of my-bucket matches s3:GetObject" in out.stdout
    result = simulate(irsa, "arn:aws:s3:::my-bucket/private/x")
    assert result["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyType"] for m in result["MatchedStatements"]] == ["resource"]
    # A resource outside the denied prefix, and a bucket that does not exist: identity policy only.
    assert doctor(irsa, "arn:aws:s3:::my-bucket/public/x").returncode == 0
    assert simulate(irsa, "arn:aws:s3:::no-such-bucket/x")["EvalDecision"] == "allowed"
    # An explicit ResourcePolicy replaces the bucket's, as the API documents.
    out = json.loads(irsa.aws("iam", "simulate-principal-policy", "--policy-source-arn", ROLE_ARN,
                              "--action-names", "s3:GetObject", "--resource-arns", "arn:aws:s3:::my-bucket/private/x",
                              "--resource-policy", json.dumps(grant).replace("shared-data", "my-bucket")).stdout)
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_racing_writes_keep_what_each_acknowledged(irsa):
    """Conditional writes are decided at the commit (API_PutObject.html: of
    racing If-None-Match writes one wins, the rest get 412), and tag changes
    racing object writes never bring back replaced bytes."""
    from concurrent.futures import ThreadPoolExecutor
    admin = admin_s3(irsa)
    admin.create_bucket(Bucket="race")

    def create_only(i):
        s3 = admin_s3(irsa)
        try:
            s3.put_object(Bucket="race", Key="lock", Body=f"owner {i}".encode(), IfNoneMatch="*")
            return i
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
            return None

    with ThreadPoolExecutor(8) as pool:
        winners = [w for w in pool.map(create_only, range(16)) if w is not None]
    assert len(winners) == 1
    assert admin.get_object(Bucket="race", Key="lock")["Body"].read() == f"owner {winners[0]}".encode()

    # Deterministic: a create-only upload whose body is still arriving when
    # another write lands loses, though the key was free when it started.
    import http.client
    from urllib.parse import urlsplit
    signer = irsa.session().client("s3", endpoint_url=f"http://{irsa.listen}", config=Config(signature_version="s3v4"))
    url = urlsplit(signer.generate_presigned_url("put_object", Params={"Bucket": "race", "Key": "slow"}))
    conn = http.client.HTTPConnection(url.netloc)
    conn.putrequest("PUT", f"{url.path}?{url.query}")
    conn.putheader("Content-Length", "8")
    conn.putheader("If-None-Match", "*")
    conn.endheaders()
    conn.send(b"slow")
    admin.put_object(Bucket="race", Key="slow", Body=b"fast")
    conn.send(b"body")
    answer = conn.getresponse()
    assert answer.status == 412, answer.read()
    assert b"<Code>PreconditionFailed</Code>" in answer.read()
    assert admin.get_object(Bucket="race", Key="slow")["Body"].read() == b"fast"

    admin.put_object(Bucket="race", Key="k", Body=b"v0")

    def writer():
        s3 = admin_s3(irsa)
        for n in range(1, 41):
            s3.put_object(Bucket="race", Key="k", Body=f"v{n}".encode())

    def tagger():
        s3 = admin_s3(irsa)
        for n in range(40):
            s3.put_object_tagging(Bucket="race", Key="k", Tagging={"TagSet": [{"Key": "n", "Value": str(n)}]})
            assert s3.get_object(Bucket="race", Key="k")["Body"].read().startswith(b"v")

    with ThreadPoolExecutor(3) as pool:
        for f in [pool.submit(writer), pool.submit(tagger), pool.submit(tagger)]:
            f.result()
    assert admin.get_object(Bucket="race", Key="k")["Body"].read() == b"v40"


def test_kill_9_loses_no_acknowledged_object_and_leaves_no_partial_one(irsa):
    """A write is acknowledged only when durable: after `kill -9` under load,
    every acknowledged object is there with its bytes, an upload cut off
    mid-body left nothing visible, and restart removes what it left behind."""
    import http.client
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit
    admin = admin_s3(irsa)
    admin.create_bucket(Bucket="durable")
    signer = irsa.session().client("s3", endpoint_url=f"http://{irsa.listen}", config=Config(signature_version="s3v4"))
    url = urlsplit(signer.generate_presigned_url("put_object", Params={"Bucket": "durable", "Key": "cut-off"}))
    cut = http.client.HTTPConnection(url.netloc)
    cut.putrequest("PUT", f"{url.path}?{url.query}")
    cut.putheader("Content-Length", str(1 << 20))
    cut.endheaders()
    cut.send(b"x" * (1 << 19))

    acknowledged = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w):
        s3 = admin_s3(irsa)
        n = 0
        while not stop.is_set():
            key = f"w{w}/{n}"
            body = os.urandom(1 + (n * 7919) % (256 << 10))
            try:
                s3.put_object(Bucket="durable", Key=key, Body=body)
            except Exception:
                return
            with lock:
                acknowledged[key] = hashlib.md5(body).hexdigest()
            n += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(writer, w) for w in range(4)]
        deadline = time.time() + 60
        while len(acknowledged) < 60 and time.time() < deadline and not all(f.done() for f in futures):
            time.sleep(0.01)
        irsa.proc.send_signal(signal.SIGKILL)
        irsa.proc.wait()
        stop.set()
        for f in futures:
            f.result()
    irsa.proc = None
    assert len(acknowledged) >= 60
    irsa.start(irsa.listen)
    admin = admin_s3(irsa)
    for key, md5 in acknowledged.items():
        assert hashlib.md5(admin.get_object(Bucket="durable", Key=key)["Body"].read()).hexdigest() == md5, key
    listed = {o["Key"] for page in admin.get_paginator("list_objects_v2").paginate(Bucket="durable")
              for o in page.get("Contents", [])}
    assert "cut-off" not in listed
    assert set(acknowledged) <= listed
    # Writes that were in flight are whole or absent; nothing half-written stays on disk.
    assert len(listed) - len(acknowledged) <= 4
    store = irsa.data_dir / "s3"
    assert list((store / "tmp").iterdir()) == []
    assert sum(1 for p in (store / "blobs").rglob("*") if p.is_file()) == len(listed)
