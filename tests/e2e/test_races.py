"""Concurrent writers against a real `irsa serve` (issue 19): every IAM mutation
is one store transaction, so what a call acknowledged is stored, quotas hold
exactly, identical creates succeed once, nothing answers 5xx, and each
acknowledged change has its CloudTrail event.

Each race releases N writers together with a barrier, each on its own boto3
client with retries off (a retried 5xx would hide the fault).
"""

import json
import os
import random
import sqlite3
import subprocess
import threading

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import EXAMPLES, Irsa, irsa_bin

N = 24
TRUST = (EXAMPLES / "trust-policy.json").read_text()
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for k in saved:
        del os.environ[k]
    irsa = Irsa(tmp_path_factory.mktemp("races") / "data").start()
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ[key] = irsa.env[key]
    irsa.clients = [boto3.session.Session().client("iam", config=NO_RETRY) for _ in range(60)]
    yield irsa
    irsa.stop()
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(key, None)
    os.environ.update(saved)


class Outcome:
    def __init__(self, code, status, request_id, value=None):
        self.code, self.status, self.request_id, self.value = code, status, request_id, value

    @property
    def ok(self):
        return self.code is None

    def __repr__(self):
        return f"{self.code or 'ok'}({self.status})"


def race(server, n, call):
    """Runs call(client, i) for i in 0..n, all released together."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        client = server.clients[i]
        barrier.wait()
        try:
            r = call(client, i)
            out[i] = Outcome(None, 200, r["ResponseMetadata"]["RequestId"], r)
        except botocore.exceptions.ClientError as e:
            meta = e.response["ResponseMetadata"]
            out[i] = Outcome(e.response["Error"]["Code"], meta["HTTPStatusCode"], meta.get("RequestId"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o is not None for o in out)
    fivexx = [o for o in out if o.status >= 500]
    assert not fivexx, f"5xx answers: {fivexx}"
    assert_audited(server, [o for o in out if o.ok])
    return out


def assert_audited(server, acknowledged):
    """Every acknowledged change has its event in the trail (audit.db)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'audit.db'}?mode=ro", uri=True)
    try:
        ids = {json.loads(r)["requestID"] for (r,) in db.execute("SELECT record FROM audit_events")}
    finally:
        db.close()
    missing = [o.request_id for o in acknowledged if o.request_id not in ids]
    assert not missing, f"acknowledged without an audit event: {missing}"


def oks(out):
    return [i for i, o in enumerate(out) if o.ok]


def codes(out):
    return sorted({o.code for o in out if not o.ok})


def tag_keys(tags):
    return {t["Key"] for t in tags}


def test_tag_role_every_acknowledged_tag_is_stored(server):
    iam = server.clients[0]
    iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=TRUST)
    acked = set()
    for rnd in range(2):
        out = race(server, N, lambda c, i: c.tag_role(RoleName="tagged", Tags=[{"Key": f"k{rnd}-{i}", "Value": "v"}]))
        assert len(oks(out)) == N, out
        acked |= {f"k{rnd}-{i}" for i in oks(out)}
    assert tag_keys(iam.list_role_tags(RoleName="tagged", MaxItems=100)["Tags"]) == acked
    assert tag_keys(iam.get_role(RoleName="tagged")["Role"]["Tags"]) == acked


def test_tag_role_quota_holds_exactly(server):
    iam = server.clients[0]
    iam.create_role(RoleName="quota", AssumeRolePolicyDocument=TRUST)
    out = race(server, 60, lambda c, i: c.tag_role(RoleName="quota", Tags=[{"Key": f"k{i}", "Value": "v"}]))
    assert len(oks(out)) == 50, out
    assert codes(out) == ["LimitExceeded"]
    stored = tag_keys(iam.list_role_tags(RoleName="quota", MaxItems=100)["Tags"])
    assert stored == {f"k{i}" for i in oks(out)}


def test_untag_role_removes_exactly_what_was_acknowledged(server):
    iam = server.clients[0]
    iam.create_role(RoleName="untag", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(2 * N)])
    out = race(server, N, lambda c, i: c.untag_role(RoleName="untag", TagKeys=[f"k{i}"]))
    assert len(oks(out)) == N
    assert tag_keys(iam.list_role_tags(RoleName="untag", MaxItems=100)["Tags"]) == {f"k{i}" for i in range(N, 2 * N)}


def test_identical_creates_succeed_once(server):
    out = race(server, N, lambda c, i: c.create_role(RoleName="same", AssumeRolePolicyDocument=TRUST))
    assert len(oks(out)) == 1 and codes(out) == ["EntityAlreadyExists"], out
    # A name differing only in case is the same role.
    out = race(server, N, lambda c, i: c.create_role(RoleName="Same" if i % 2 else "SAME", AssumeRolePolicyDocument=TRUST))
    assert not oks(out) and codes(out) == ["EntityAlreadyExists"]
    out = race(server, N, lambda c, i: c.create_policy(PolicyName="same", PolicyDocument=DOC))
    assert len(oks(out)) == 1 and codes(out) == ["EntityAlreadyExists"], out
    url = "https://oidc.example.com/id/SAME"
    out = race(server, N, lambda c, i: c.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"]))
    assert len(oks(out)) == 1 and codes(out) == ["EntityAlreadyExists"], out


def test_identical_deletes_succeed_once(server):
    iam = server.clients[0]
    iam.create_role(RoleName="gone", AssumeRolePolicyDocument=TRUST)
    arn = iam.create_policy(PolicyName="gone", PolicyDocument=DOC)["Policy"]["Arn"]
    provider = iam.create_open_id_connect_provider(Url="https://oidc.example.com/id/GONE", ClientIDList=["a"])["OpenIDConnectProviderArn"]
    for call in (lambda c, i: c.delete_role(RoleName="gone"),
                 lambda c, i: c.delete_policy(PolicyArn=arn),
                 lambda c, i: c.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)):
        out = race(server, N, call)
        assert len(oks(out)) == 1 and codes(out) == ["NoSuchEntity"], out


def test_policy_versions_quota_and_one_default(server):
    iam = server.clients[0]
    arn = iam.create_policy(PolicyName="versions", PolicyDocument=DOC)["Policy"]["Arn"]
    out = race(server, 20, lambda c, i: c.create_policy_version(PolicyArn=arn, PolicyDocument=DOC, SetAsDefault=True))
    assert len(oks(out)) == 4 and codes(out) == ["LimitExceeded"], out
    made = {out[i].value["PolicyVersion"]["VersionId"] for i in oks(out)}
    assert made == {"v2", "v3", "v4", "v5"}
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert {v["VersionId"] for v in versions} == made | {"v1"}
    defaults = [v["VersionId"] for v in versions if v["IsDefaultVersion"]]
    assert len(defaults) == 1 and defaults == [iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]]
    # Setting defaults concurrently still leaves exactly one.
    choices = sorted(made | {"v1"})
    out = race(server, N, lambda c, i: c.set_default_policy_version(PolicyArn=arn, VersionId=choices[i % len(choices)]))
    assert len(oks(out)) == N
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len([v for v in versions if v["IsDefaultVersion"]]) == 1
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    # Deleting every non-default version at once: each goes exactly once.
    others = [v for v in choices if v != default]
    out = race(server, N, lambda c, i: c.delete_policy_version(PolicyArn=arn, VersionId=others[i % len(others)]))
    assert len(oks(out)) == len(others) and codes(out) == ["NoSuchEntity"], out
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [default]
    # Next ids are never handed out twice.
    out = race(server, N, lambda c, i: c.create_policy_version(PolicyArn=arn, PolicyDocument=DOC))
    ids = [out[i].value["PolicyVersion"]["VersionId"] for i in oks(out)]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_policy_tags(server):
    iam = server.clients[0]
    arn = iam.create_policy(PolicyName="tagged", PolicyDocument=DOC, Tags=[{"Key": "team", "Value": "a"}])["Policy"]["Arn"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "team", "Value": "a"}]
    out = race(server, 60, lambda c, i: c.tag_policy(PolicyArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"}]))
    assert len(oks(out)) == 49 and codes(out) == ["LimitExceeded"], out
    stored = tag_keys(iam.list_policy_tags(PolicyArn=arn, MaxItems=100)["Tags"])
    assert stored == {f"k{i}" for i in oks(out)} | {"team"}
    gone = [f"k{i}" for i in oks(out)][:N]
    out = race(server, N, lambda c, i: c.untag_policy(PolicyArn=arn, TagKeys=[gone[i]]))
    assert len(oks(out)) == N
    assert tag_keys(iam.list_policy_tags(PolicyArn=arn, MaxItems=100)["Tags"]) == stored - set(gone)


def test_provider_lists_and_tags(server):
    iam = server.clients[0]
    arn = iam.create_open_id_connect_provider(Url="https://oidc.example.com/id/LISTS", ClientIDList=["base"])["OpenIDConnectProviderArn"]
    out = race(server, N, lambda c, i: c.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=f"c{i}"))
    assert len(oks(out)) == N
    out = race(server, N, lambda c, i: c.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"}]))
    assert len(oks(out)) == N
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert set(got["ClientIDList"]) == {f"c{i}" for i in range(N)} | {"base"}
    assert tag_keys(got["Tags"]) == {f"k{i}" for i in range(N)}
    half = N // 2
    out = race(server, half, lambda c, i: c.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=f"c{i}"))
    assert len(oks(out)) == half
    out = race(server, half, lambda c, i: c.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=[f"k{i}"]))
    assert len(oks(out)) == half
    prints = [f"{i:040x}" for i in range(N)]
    out = race(server, N, lambda c, i: c.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[prints[i]]))
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert set(got["ClientIDList"]) == {f"c{i}" for i in range(half, N)} | {"base"}
    assert tag_keys(got["Tags"]) == {f"k{i}" for i in range(half, N)}
    assert len(got["ThumbprintList"]) == 1 and got["ThumbprintList"][0] in {prints[i] for i in oks(out)}


def test_attachments_quota_and_detach(server):
    iam = server.clients[0]
    iam.create_role(RoleName="attached", AssumeRolePolicyDocument=TRUST)
    arns = [iam.create_policy(PolicyName=f"attach-{i}", PolicyDocument=DOC)["Policy"]["Arn"] for i in range(20)]
    out = race(server, 20, lambda c, i: c.attach_role_policy(RoleName="attached", PolicyArn=arns[i]))
    assert len(oks(out)) == 10 and codes(out) == ["LimitExceeded"], out
    stored = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="attached")["AttachedPolicies"]}
    assert stored == {arns[i] for i in oks(out)}
    mine = sorted(stored)
    out = race(server, 20, lambda c, i: c.detach_role_policy(RoleName="attached", PolicyArn=mine[i % len(mine)]))
    assert len(oks(out)) == len(mine) and codes(out) == ["NoSuchEntity"], out
    assert iam.list_attached_role_policies(RoleName="attached")["AttachedPolicies"] == []


def test_inline_policies_total_size_holds_exactly(server):
    iam = server.clients[0]
    iam.create_role(RoleName="inline", AssumeRolePolicyDocument=TRUST)
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{'x' * 900}/*"}]})
    out = race(server, 20, lambda c, i: c.put_role_policy(RoleName="inline", PolicyName=f"p{i}", PolicyDocument=big))
    fitted = oks(out)
    assert 0 < len(fitted) < 20 and codes(out) == ["LimitExceeded"], out
    names = iam.list_role_policies(RoleName="inline")["PolicyNames"]
    assert set(names) == {f"p{i}" for i in fitted}
    assert len(fitted) == 10_240 // len(big.replace(" ", ""))


def test_updates_keep_one_acknowledged_value(server):
    iam = server.clients[0]
    iam.create_role(RoleName="updated", AssumeRolePolicyDocument=TRUST)
    out = race(server, N, lambda c, i: c.update_role(RoleName="updated", Description=f"d{i}", MaxSessionDuration=3600 + i))
    role = iam.get_role(RoleName="updated")["Role"]
    assert len(oks(out)) == N
    # The last commit wins whole: description and duration come from one call.
    assert role["MaxSessionDuration"] - 3600 == int(role["Description"][1:])
    boundaries = [iam.create_policy(PolicyName=f"boundary-{i}", PolicyDocument=DOC)["Policy"]["Arn"] for i in range(3)]
    out = race(server, N, lambda c, i: (c.put_role_permissions_boundary(RoleName="updated", PermissionsBoundary=boundaries[i % 3])
                                        if i % 4 else c.delete_role_permissions_boundary(RoleName="updated")))
    assert len(oks(out)) == N
    out = race(server, N, lambda c, i: c.update_assume_role_policy(RoleName="updated", PolicyDocument=TRUST.replace("s3-app", f"app-{i}")))
    assert len(oks(out)) == N
    trust = iam.get_role(RoleName="updated")["Role"]["AssumeRolePolicyDocument"]
    assert any(f"app-{i}" in json.dumps(trust) for i in range(N))


def test_delete_while_writing(server):
    iam = server.clients[0]
    for rnd in range(3):
        iam.create_role(RoleName="victim", AssumeRolePolicyDocument=TRUST)

        def call(c, i):
            if i == 0:
                return c.delete_role(RoleName="victim")
            if i % 3 == 1:
                return c.put_role_policy(RoleName="victim", PolicyName=f"p{i}", PolicyDocument=DOC)
            return c.tag_role(RoleName="victim", Tags=[{"Key": f"k{i}", "Value": "v"}])

        out = race(server, N, call)
        puts = [i for i in oks(out) if i % 3 == 1]
        if out[0].ok:
            # Deleted: no inline policy was acknowledged before it (DeleteRole
            # refuses a role with policies), none after it.
            assert not puts, out
            iam.create_role(RoleName="victim", AssumeRolePolicyDocument=TRUST)
            assert iam.list_role_tags(RoleName="victim")["Tags"] == []
            assert iam.list_role_policies(RoleName="victim")["PolicyNames"] == []
        else:
            assert out[0].code == "DeleteConflict" and puts, out
            assert set(iam.list_role_policies(RoleName="victim")["PolicyNames"]) == {f"p{i}" for i in puts}
        for name in iam.list_role_policies(RoleName="victim")["PolicyNames"]:
            iam.delete_role_policy(RoleName="victim", PolicyName=name)
        iam.delete_role(RoleName="victim")


def test_roles_per_account_quota_holds_exactly(server):
    acct = "210987654321"
    subprocess.run([irsa_bin(), "account", "create", "--data-dir", str(server.data_dir), "--id", acct,
                    "--profile", "quota"], check=True, capture_output=True)
    clients = [boto3.session.Session(profile_name="quota").client("iam", config=NO_RETRY) for _ in range(8)]

    def fill(k):
        for n in range(k, 990, 8):
            clients[k].create_role(RoleName=f"fill-{n}", AssumeRolePolicyDocument=TRUST)

    threads = [threading.Thread(target=fill, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = server.clients
    server.clients = [boto3.session.Session(profile_name="quota").client("iam", config=NO_RETRY) for _ in range(N)]
    try:
        out = race(server, N, lambda c, i: c.create_role(RoleName=f"last-{i}", AssumeRolePolicyDocument=TRUST))
    finally:
        server.clients = saved
    assert len(oks(out)) == 10 and codes(out) == ["LimitExceeded"], out
    roles = clients[0].get_paginator("list_roles").paginate().build_full_result()["Roles"]
    assert len(roles) == 1000


def test_model_of_concurrent_commuting_operations(server):
    """Random concurrent sequences over shared roles, a shared policy and a
    shared provider, each thread with its own keys and names: the final state
    equals what a sequential model computes from the acknowledged operations,
    and each call's outcome is the one the model predicts."""
    iam = server.clients[0]
    rng = random.Random(19)
    shared_roles = ["m-0", "m-1"]
    for r in shared_roles:
        iam.create_role(RoleName=r, AssumeRolePolicyDocument=TRUST)
    shared_policy = iam.create_policy(PolicyName="m-policy", PolicyDocument=DOC)["Policy"]["Arn"]
    provider = iam.create_open_id_connect_provider(Url="https://oidc.example.com/id/MODEL", ClientIDList=["base"])["OpenIDConnectProviderArn"]
    threads = 8
    own_policies = [iam.create_policy(PolicyName=f"m-own-{t}", PolicyDocument=DOC)["Policy"]["Arn"] for t in range(threads)]

    # The model: per entity, what the acknowledged operations leave.
    model = {
        "role_tags": {r: set() for r in shared_roles},
        "inline": {r: set() for r in shared_roles},
        "attached": {r: set() for r in shared_roles},
        "policy_tags": set(),
        "client_ids": {"base"},
        "provider_tags": set(),
        "roles": set(),
    }
    lock = threading.Lock()

    def plan(t, local):
        """One random operation for thread t, valid by construction, and
        how it changes the model."""
        r = rng_for[t].choice(shared_roles)
        n = local["n"] = local["n"] + 1
        mine = lambda kind: sorted(x for x in local[kind])
        choices = ["tag_role", "put_inline", "tag_policy", "add_client", "tag_provider", "create_role", "attach"]
        for kind, undo in (("role_tags", "untag_role"), ("inline", "delete_inline"), ("policy_tags", "untag_policy"),
                           ("client_ids", "remove_client"), ("provider_tags", "untag_provider"), ("roles", "delete_role"),
                           ("attached", "detach")):
            if local[kind]:
                choices.append(undo)
        op = rng_for[t].choice(choices)
        key = f"t{t}-{n}"
        if op == "tag_role" and sum(1 for x in local["role_tags"] if x[0] == r) < 2:
            return (lambda c: c.tag_role(RoleName=r, Tags=[{"Key": key, "Value": "v"}]),
                    lambda: (local["role_tags"].add((r, key)), model["role_tags"][r].add(key)))
        if op == "untag_role":
            rr, k = mine("role_tags")[0]
            return (lambda c: c.untag_role(RoleName=rr, TagKeys=[k]),
                    lambda: (local["role_tags"].discard((rr, k)), model["role_tags"][rr].discard(k)))
        if op == "put_inline" and sum(1 for x in local["inline"] if x[0] == r) < 2:
            return (lambda c: c.put_role_policy(RoleName=r, PolicyName=key, PolicyDocument=DOC),
                    lambda: (local["inline"].add((r, key)), model["inline"][r].add(key)))
        if op == "delete_inline":
            rr, k = mine("inline")[0]
            return (lambda c: c.delete_role_policy(RoleName=rr, PolicyName=k),
                    lambda: (local["inline"].discard((rr, k)), model["inline"][rr].discard(k)))
        if op == "attach" and not local["attached"]:
            return (lambda c: c.attach_role_policy(RoleName=r, PolicyArn=own_policies[t]),
                    lambda: (local["attached"].add((r, own_policies[t])), model["attached"][r].add(own_policies[t])))
        if op == "detach":
            rr, a = mine("attached")[0]
            return (lambda c: c.detach_role_policy(RoleName=rr, PolicyArn=a),
                    lambda: (local["attached"].discard((rr, a)), model["attached"][rr].discard(a)))
        if op == "tag_policy" and len(local["policy_tags"]) < 3:
            return (lambda c: c.tag_policy(PolicyArn=shared_policy, Tags=[{"Key": key, "Value": "v"}]),
                    lambda: (local["policy_tags"].add(key), model["policy_tags"].add(key)))
        if op == "untag_policy":
            k = mine("policy_tags")[0]
            return (lambda c: c.untag_policy(PolicyArn=shared_policy, TagKeys=[k]),
                    lambda: (local["policy_tags"].discard(k), model["policy_tags"].discard(k)))
        if op == "add_client" and len(local["client_ids"]) < 4:
            return (lambda c: c.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID=key),
                    lambda: (local["client_ids"].add(key), model["client_ids"].add(key)))
        if op == "remove_client":
            k = mine("client_ids")[0]
            return (lambda c: c.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID=k),
                    lambda: (local["client_ids"].discard(k), model["client_ids"].discard(k)))
        if op == "tag_provider" and len(local["provider_tags"]) < 3:
            return (lambda c: c.tag_open_id_connect_provider(OpenIDConnectProviderArn=provider, Tags=[{"Key": key, "Value": "v"}]),
                    lambda: (local["provider_tags"].add(key), model["provider_tags"].add(key)))
        if op == "untag_provider":
            k = mine("provider_tags")[0]
            return (lambda c: c.untag_open_id_connect_provider(OpenIDConnectProviderArn=provider, TagKeys=[k]),
                    lambda: (local["provider_tags"].discard(k), model["provider_tags"].discard(k)))
        if op == "delete_role":
            k = mine("roles")[0]
            return (lambda c: c.delete_role(RoleName=k),
                    lambda: (local["roles"].discard(k), model["roles"].discard(k)))
        name = f"m-{key}"
        return (lambda c: c.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST),
                lambda: (local["roles"].add(name), model["roles"].add(name)))

    rng_for = [random.Random(rng.random()) for _ in range(threads)]
    barrier = threading.Barrier(threads)
    failures = []
    acknowledged = []

    def worker(t):
        client = server.clients[t]
        local = {"n": 0, "role_tags": set(), "inline": set(), "attached": set(), "policy_tags": set(),
                 "client_ids": set(), "provider_tags": set(), "roles": set()}
        barrier.wait()
        for _ in range(30):
            call, apply = plan(t, local)
            try:
                r = call(client)
            except botocore.exceptions.ClientError as e:
                failures.append((t, e.response["Error"]["Code"], e.response["Error"]["Message"]))
                continue
            acknowledged.append(Outcome(None, 200, r["ResponseMetadata"]["RequestId"]))
            with lock:
                apply()

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not failures, f"the model predicts every call succeeds: {failures[:5]}"
    assert_audited(server, acknowledged)
    for r in shared_roles:
        assert tag_keys(iam.list_role_tags(RoleName=r, MaxItems=100)["Tags"]) == model["role_tags"][r]
        assert set(iam.list_role_policies(RoleName=r)["PolicyNames"]) == model["inline"][r]
        assert {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=r)["AttachedPolicies"]} == model["attached"][r]
    assert tag_keys(iam.list_policy_tags(PolicyArn=shared_policy)["Tags"]) == model["policy_tags"]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert set(got["ClientIDList"]) == model["client_ids"]
    assert tag_keys(got["Tags"]) == model["provider_tags"]
    roles = {r["RoleName"] for r in iam.get_paginator("list_roles").paginate().build_full_result()["Roles"]}
    assert {r for r in roles if r.startswith("m-t")} == model["roles"]
