//! A real server on a loopback port over a temporary SQLite store, and a SigV4
//! client for it.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use store::{MasterKey, SqliteStore, Store};

pub const ACCOUNT: &str = "123456789012";

pub struct Server {
    pub addr: SocketAddr,
    pub key: String,
    pub secret: String,
    pub store: Arc<dyn Store + Send + Sync>,
    /// The audit writer's own connection (to cap `audit.db` in tests).
    pub audit_store: Arc<SqliteStore>,
    pub dir: tempfile::TempDir,
    client: Client<HttpConnector, Full<Bytes>>,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    /// Text of the first `<name>` element.
    pub fn tag(&self, name: &str) -> Option<String> {
        self.tags(name).into_iter().next()
    }

    /// Text of every `<name>` element, in order.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let mut out = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find(&open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(&close) else { break };
            out.push(unescape(&after[..end]));
            rest = &after[end + close.len()..];
        }
        out
    }

    pub fn code(&self) -> String {
        self.tag("Code").unwrap_or_default()
    }

    pub fn message(&self) -> String {
        self.tag("Message").unwrap_or_default()
    }

    /// Asserts an AWS error with this status and code.
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
        assert!(self.body.contains("<ErrorResponse xmlns="), "{}", self.body);
        assert!(
            self.tag("RequestId").is_some_and(|r| r.len() == 36),
            "{}",
            self.body
        );
        self
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Decodes a URL-encoded policy document as IAM returns it.
pub fn url_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        // The audit writer has its own connection, as in `irsa serve`.
        let audit_key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let audit_store = Arc::new(SqliteStore::open(dir.path(), audit_key).unwrap());
        let auditor = server::Auditor::start(
            audit_store.clone(),
            server::AuditConfig {
                log_file: Some(dir.path().join("audit.jsonl")),
            },
        )
        .unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let store: Arc<dyn Store + Send + Sync> =
            Arc::new(SqliteStore::open(dir.path(), key).unwrap());
        let (key, secret) = server::create_account(store.as_ref(), ACCOUNT).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(
            server::State::new(store.clone(), &format!("http://{addr}"), None)
                .unwrap()
                .with_auditor(auditor),
        );
        tokio::spawn(server::serve(listener, state));
        Server {
            addr,
            key,
            secret,
            store,
            audit_store,
            dir,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a raw request.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Resp {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path_and_query));
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// POST / signed by SigV4 in us-east-1: the one place tests sign requests.
    async fn send_signed(
        &self,
        creds: Creds<'_>,
        service: &str,
        when: i64,
        content_type: &str,
        target: Option<&str>,
        body: String,
    ) -> Resp {
        let host = self.addr.to_string();
        let mut base = vec![("host", host.as_str()), ("content-type", content_type)];
        if let Some(target) = target {
            base.push(("x-amz-target", target));
        }
        let req = sigv4::HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body: body.as_bytes(),
        };
        let mut headers: Vec<(String, String)> = base[1..]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.extend(sigv4::sign(
            &req,
            creds.key,
            creds.secret,
            creds.token,
            "us-east-1",
            service,
            when,
        ));
        self.send("POST", "/", &headers, body.into_bytes()).await
    }

    /// A signed POST with the given credentials, service and time.
    pub async fn signed_with(
        &self,
        key: &str,
        secret: &str,
        token: Option<&str>,
        service: &str,
        when: i64,
        params: &[(&str, &str)],
    ) -> Resp {
        let creds = Creds { key, secret, token };
        self.send_signed(
            creds,
            service,
            when,
            "application/x-www-form-urlencoded; charset=utf-8",
            None,
            form(params),
        )
        .await
    }

    /// An IAM call signed by the account's admin key.
    pub async fn iam(&self, action: &str, params: &[(&str, &str)]) -> Resp {
        let mut all = vec![("Action", action), ("Version", "2010-05-08")];
        all.extend_from_slice(params);
        self.signed_with(&self.key, &self.secret, None, "iam", now(), &all)
            .await
    }

    /// `http://ADDR`, the server's public URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A local cluster with its issuer registered as an OIDC provider of ACCOUNT.
    pub fn cluster(&self, name: &str) -> store::Cluster {
        let c = server::clusters::create_cluster(self.store.as_ref(), name, ACCOUNT, "us-east-1")
            .unwrap();
        server::clusters::associate_provider(self.store.as_ref(), &self.url(), &c, ACCOUNT)
            .unwrap();
        c
    }

    /// A ServiceAccount token of a local cluster.
    pub fn token(
        &self,
        cluster: &store::Cluster,
        namespace: &str,
        sa: &str,
        audience: &str,
    ) -> String {
        let aud = [audience.to_string()];
        server::clusters::mint_token(
            self.store.as_ref(),
            &self.url(),
            cluster,
            &server::clusters::TokenRequest {
                namespace,
                service_account: sa,
                audiences: &aud,
                expiration_seconds: 3600,
                pod: None,
            },
        )
        .unwrap()
    }

    /// The tutorial's setup: cluster `my-cluster` with its OIDC provider, and
    /// role `s3-app-role` trusting production/s3-app, with `policy` attached.
    pub async fn tutorial(policy: &str) -> (Server, store::Cluster) {
        let s = Server::start().await;
        let c = s.cluster("my-cluster");
        let trust = s.trust_for(&c, "production", "s3-app");
        s.iam(
            "CreateRole",
            &[
                ("RoleName", "s3-app-role"),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await
        .ok();
        s.iam(
            "AttachRolePolicy",
            &[("RoleName", "s3-app-role"), ("PolicyArn", policy)],
        )
        .await
        .ok();
        (s, c)
    }

    /// The trust policy of the tutorial, for a cluster of this server.
    pub fn trust_for(&self, cluster: &store::Cluster, namespace: &str, sa: &str) -> String {
        let issuer = server::clusters::issuer_url(&self.url(), cluster);
        let host = issuer.trim_start_matches("http://");
        TRUST
            .replace(
                "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
                host,
            )
            .replace(
                "system:serviceaccount:production:s3-app",
                &format!("system:serviceaccount:{namespace}:{sa}"),
            )
    }

    /// An unsigned STS call (AssumeRoleWithWebIdentity).
    pub async fn unsigned(&self, params: &[(&str, &str)]) -> Resp {
        let mut all = vec![("Version", "2011-06-15")];
        all.extend_from_slice(params);
        self.send(
            "POST",
            "/",
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            form(&all).into_bytes(),
        )
        .await
    }

    /// AssumeRoleWithWebIdentity; returns the response.
    pub async fn web_identity(&self, role_arn: &str, token: &str) -> Resp {
        self.unsigned(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "pod"),
            ("WebIdentityToken", token),
        ])
        .await
    }

    /// A call signed with session credentials from an AssumeRole* response.
    pub async fn as_session(
        &self,
        creds: &Resp,
        service: &str,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> Resp {
        let mut all = vec![("Action", action), ("Version", version)];
        all.extend_from_slice(params);
        self.signed_with(
            &creds.tag("AccessKeyId").unwrap(),
            &creds.tag("SecretAccessKey").unwrap(),
            Some(&creds.tag("SessionToken").unwrap()),
            service,
            now(),
            &all,
        )
        .await
    }

    /// A CloudTrail JSON 1.1 call signed by the given key.
    pub async fn cloudtrail_with(
        &self,
        key: &str,
        secret: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let creds = Creds {
            key,
            secret,
            token: None,
        };
        let r = self
            .send_signed(
                creds,
                "cloudtrail",
                now(),
                "application/x-amz-json-1.1",
                Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"),
                body.to_string(),
            )
            .await;
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// LookupEvents as the account's admin.
    pub async fn lookup(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.cloudtrail_with(&self.key, &self.secret, &body).await
    }

    /// An STS call signed by the account's admin key.
    pub async fn sts(&self, action: &str, params: &[(&str, &str)]) -> Resp {
        let mut all = vec![("Action", action), ("Version", "2011-06-15")];
        all.extend_from_slice(params);
        self.signed_with(&self.key, &self.secret, None, "sts", now(), &all)
            .await
    }
}

pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

pub const TRUST: &str = include_str!("../../../../examples/trust-policy.json");
pub const APP: &str = include_str!("../../../../examples/app-policy.json");

/// The credentials a test request is signed with.
struct Creds<'a> {
    key: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
}
