"""The aws CLI and boto3, configured only by the files `irsa serve` writes,
against a real server: the tutorial's IAM setup, a second account, and refusals."""

import json
import subprocess

import botocore.exceptions
import pytest

from conftest import EXAMPLES

PROVIDER_URL = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def doc(name):
    return (EXAMPLES / name).read_text()


def test_cli_works_with_no_flag_but_the_written_files(irsa):
    out = irsa.aws("iam", "list-roles")
    assert json.loads(out.stdout) == {"Roles": []}
    ident = json.loads(irsa.aws("sts", "get-caller-identity").stdout)
    assert ident == {"UserId": "123456789012", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"}


def test_tutorial_setup_with_the_cli_read_back_with_boto3(irsa, iam):
    irsa.aws("iam", "create-open-id-connect-provider", "--url", PROVIDER_URL, "--client-id-list", "sts.amazonaws.com")
    irsa.aws(
        "iam", "create-role", "--role-name", "s3-app-role",
        "--assume-role-policy-document", f"file://{EXAMPLES / 'trust-policy.json'}",
        "--description", "Role for Kubernetes s3-app ServiceAccount",
    )
    irsa.aws("iam", "attach-role-policy", "--role-name", "s3-app-role", "--policy-arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    irsa.aws("iam", "put-role-policy", "--role-name", "s3-app-role", "--policy-name", "app", "--policy-document", f"file://{EXAMPLES / 'app-policy.json'}")
    created = json.loads(irsa.aws("iam", "create-policy", "--policy-name", "least-privilege", "--policy-document", f"file://{EXAMPLES / 'least-privilege-good.json'}").stdout)
    irsa.aws("iam", "attach-role-policy", "--role-name", "s3-app-role", "--policy-arn", created["Policy"]["Arn"])

    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [PROVIDER_ARN]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    role = iam.get_role(RoleName="s3-app-role")["Role"]
    assert role["Arn"] == "arn:aws:iam::123456789012:role/s3-app-role"
    # botocore decodes the URL-encoded document back into the tutorial's policy.
    assert role["AssumeRolePolicyDocument"] == json.loads(doc("trust-policy.json"))
    attached = iam.list_attached_role_policies(RoleName="s3-app-role")["AttachedPolicies"]
    assert [a["PolicyName"] for a in attached] == ["AmazonS3ReadOnlyAccess", "least-privilege"]
    inline = iam.get_role_policy(RoleName="s3-app-role", PolicyName="app")
    assert inline["PolicyDocument"] == json.loads(doc("app-policy.json"))
    version = iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", VersionId="v3")
    assert "s3:Get*" in json.dumps(version["PolicyVersion"]["Document"])
    paginator = iam.get_paginator("list_policies")
    names = [p["PolicyName"] for page in paginator.paginate(PaginationConfig={"PageSize": 3}) for p in page["Policies"]]
    assert "least-privilege" in names and "AdministratorAccess" in names


def test_second_account_with_its_own_profile(irsa, tmp_path):
    from conftest import irsa_bin

    out = subprocess.run(
        [irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098", "--profile", "target-account"],
        capture_output=True, text=True, check=True,
    )
    assert "target-account" in out.stdout
    ident = json.loads(irsa.aws("sts", "get-caller-identity", profile="target-account").stdout)
    assert ident["Account"] == "987654321098"
    irsa.aws(
        "iam", "create-role", "--role-name", "cross-account-s3-access",
        "--assume-role-policy-document", f"file://{EXAMPLES / 'cross-account-trust-policy.json'}",
        profile="target-account",
    )
    target = irsa.session("target-account").client("iam")
    assert [r["RoleName"] for r in target.list_roles()["Roles"]] == ["cross-account-s3-access"]
    assert json.loads(irsa.aws("iam", "list-roles").stdout) == {"Roles": []}
    again = subprocess.run(
        [irsa_bin(), "account", "create", "--data-dir", str(irsa.data_dir), "--id", "987654321098", "--profile", "other"],
        capture_output=True, text=True,
    )
    assert again.returncode != 0 and "already exists" in again.stderr


def test_wrong_secret_and_unknown_key(irsa):
    import boto3

    endpoint = f"http://{irsa.listen}"
    creds = irsa.session().get_credentials()
    wrong = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id=creds.access_key, aws_secret_access_key="x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.list_roles()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unknown = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key="x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.list_roles()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize(
    "kwargs, code",
    [
        (dict(RoleName="r", AssumeRolePolicyDocument="{not json"), "MalformedPolicyDocument"),
        (dict(RoleName="r" * 65, AssumeRolePolicyDocument="{}"), "ValidationError"),
        (dict(RoleName="bad name", AssumeRolePolicyDocument="{}"), "ValidationError"),
        (dict(RoleName="r", AssumeRolePolicyDocument=(EXAMPLES / "app-policy.json").read_text()), "MalformedPolicyDocument"),
        (dict(RoleName="r", AssumeRolePolicyDocument=(EXAMPLES / "trust-policy.json").read_text(), MaxSessionDuration=100000), "ValidationError"),
    ],
)
def test_bad_input_gets_aws_errors_and_changes_nothing(iam, kwargs, code):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_role(**kwargs)
    assert e.value.response["Error"]["Code"] == code
    assert iam.list_roles()["Roles"] == []


def test_restart_with_another_listen_rewrites_the_endpoint(irsa):
    irsa.aws("iam", "create-role", "--role-name", "kept", "--assume-role-policy-document", f"file://{EXAMPLES / 'trust-policy.json'}")
    irsa.stop()
    irsa.start()
    config = (irsa.data_dir / "aws" / "config").read_text()
    assert f"endpoint_url = http://{irsa.listen}" in config
    roles = json.loads(irsa.aws("iam", "list-roles").stdout)["Roles"]
    assert [r["RoleName"] for r in roles] == ["kept"]


def test_boto3_presigned_get_caller_identity_works_and_cannot_carry_a_body(irsa):
    """Issue 11, findings 1 and 11: botocore presigns STS over the empty
    payload's hash (as `aws eks get-token` does); a body added to the URL is
    not covered by the signature and is refused."""
    import urllib.error
    import urllib.request

    sts = irsa.session().client("sts")
    # As `aws eks get-token` presigns it (HttpMethod GET), and as botocore
    # does by default (the operation's method, POST, with an empty body).
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    with urllib.request.urlopen(url) as r:
        assert r.status == 200 and b"arn:aws:iam::123456789012:root" in r.read()
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")) as r:
        assert r.status == 200 and b"arn:aws:iam::123456789012:root" in r.read()
    iam = irsa.session().client("iam")
    url = iam.generate_presigned_url("list_roles", ExpiresIn=60)
    body = b"Action=CreateRole&Version=2010-05-08&RoleName=smuggled&AssumeRolePolicyDocument=%7B%7D"
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    assert iam.list_roles()["Roles"] == []
