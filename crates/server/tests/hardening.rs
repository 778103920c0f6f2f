//! Regressions of issue 11 (what an attacker found in `irsa serve`), one test
//! per finding, each named after it: `r11_<finding>_…`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Server, TRUST, form, now};

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-app-role";

/// A request presigned by the admin key for `service`: `query` plus the
/// `X-Amz-*` parameters, signed over an empty body.
fn presigned(s: &Server, method: &str, service: &str, query: &str) -> String {
    let host = s.addr.to_string();
    let headers = [("host", host.as_str())];
    let req = sigv4::HttpRequest {
        method,
        path: "/",
        query,
        headers: &headers,
        body: b"",
    };
    let q = sigv4::presign(
        &req,
        &s.key,
        &s.secret,
        None,
        "us-east-1",
        service,
        now(),
        300,
    );
    format!("/?{q}")
}

fn form_headers() -> Vec<(String, String)> {
    vec![(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    )]
}

/// Finding 1: parameters in a body the presigned signature does not cover
/// are never used: a URL presigned with only `Version` cannot create or
/// delete a role.
#[tokio::test(flavor = "multi_thread")]
async fn r11_1_presigned_url_cannot_carry_body_parameters() {
    let s = Server::start().await;
    let url = presigned(&s, "POST", "iam", "Version=2010-05-08");
    let body = form(&[
        ("Action", "CreateRole"),
        ("RoleName", "smuggled"),
        ("AssumeRolePolicyDocument", TRUST),
    ]);
    let r = s
        .send("POST", &url, &form_headers(), body.into_bytes())
        .await;
    r.expect_error(403, "SignatureDoesNotMatch");
    assert_eq!(s.store.role(common::ACCOUNT, "smuggled").unwrap(), None);
    // Nor can extra parameters ride on a URL presigned for a real action.
    let url = presigned(&s, "POST", "iam", "Action=ListRoles&Version=2010-05-08");
    let r = s
        .send(
            "POST",
            &url,
            &form_headers(),
            b"PathPrefix=%2Fsecret%2F".to_vec(),
        )
        .await;
    r.expect_error(403, "SignatureDoesNotMatch");
}

/// Finding 11: a presigned GetCallerIdentity as botocore (and `aws eks
/// get-token`) makes it — empty payload hash — is accepted; so is ListRoles.
#[tokio::test(flavor = "multi_thread")]
async fn r11_11_presigned_sts_and_iam_calls_work() {
    let s = Server::start().await;
    let url = presigned(
        &s,
        "GET",
        "sts",
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    let r = s.send("GET", &url, &[], Vec::new()).await;
    r.ok();
    assert_eq!(r.tag("Arn").unwrap(), "arn:aws:iam::123456789012:root");
    let url = presigned(&s, "GET", "iam", "Action=ListRoles&Version=2010-05-08");
    s.send("GET", &url, &[], Vec::new()).await.ok();
}

/// Finding 2: a session is bound to its role's unique id. Deleting the role
/// and creating one of the same name with more permissions and a trust that
/// admits only root gives the old session nothing.
#[tokio::test(flavor = "multi_thread")]
async fn r11_2_a_deleted_roles_session_never_comes_back() {
    let (s, c) = Server::tutorial("arn:aws:iam::aws:policy/IAMReadOnlyAccess").await;
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let creds = s.web_identity(ROLE, &token).await;
    creds.ok();
    s.as_session(&creds, "iam", "ListRoles", "2010-05-08", &[])
        .await
        .ok();
    s.iam(
        "DetachRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyArn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess"),
        ],
    )
    .await
    .ok();
    s.iam("DeleteRole", &[("RoleName", "s3-app-role")])
        .await
        .ok();
    let root_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "s3-app-role"),
            ("AssumeRolePolicyDocument", root_only),
        ],
    )
    .await
    .ok();
    s.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ],
    )
    .await
    .ok();
    s.as_session(&creds, "iam", "ListRoles", "2010-05-08", &[])
        .await
        .expect_error(403, "AccessDenied");
    s.as_session(
        &creds,
        "iam",
        "CreateRole",
        "2010-05-08",
        &[
            ("RoleName", "evil"),
            ("AssumeRolePolicyDocument", root_only),
        ],
    )
    .await
    .expect_error(403, "AccessDenied");
    assert_eq!(s.store.role(common::ACCOUNT, "evil").unwrap(), None);
}

/// Finding 4: an over-long web identity token is never quoted back, and the
/// trail stores a bounded record of an unsigned call however big its body.
#[tokio::test(flavor = "multi_thread")]
async fn r11_4_tokens_are_not_echoed_and_unsigned_calls_are_bounded_in_the_trail() {
    let s = Server::start().await;
    let token = format!("eyJ{}", "A".repeat(30_000));
    let junk = "J".repeat(100_000);
    let many: Vec<(String, String)> = (0..500)
        .map(|i| (format!("P{i}"), "v".repeat(100)))
        .collect();
    let mut params: Vec<(&str, &str)> = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "pod"),
        ("WebIdentityToken", &token),
        ("Junk", &junk),
    ];
    params.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = s.unsigned(&params).await;
    r.expect_error(400, "ValidationError");
    assert!(!r.body.contains("AAAAAAAAAA"), "{}", &r.body[..300]);
    assert!(
        r.message().contains("'webIdentityToken'"),
        "{}",
        r.message()
    );
    let (status, out) = s
        .lookup(serde_json::json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}]}))
        .await;
    assert_eq!(status, 200);
    let record = out["Events"][0]["CloudTrailEvent"].as_str().unwrap();
    assert!(!record.contains("AAAAAAAAAA"));
    assert!(record.len() < 64 * 1024, "record of {} bytes", record.len());
}

/// Finding 14: a signature scoped to a region AWS does not have, or an IAM
/// signature scoped anywhere but us-east-1, is refused; a long-term key with
/// a security token beside it is refused, not ignored.
#[tokio::test(flavor = "multi_thread")]
async fn r11_14_bad_regions_and_stray_tokens_are_refused() {
    let s = Server::start().await;
    let list = [("Action", "ListRoles"), ("Version", "2010-05-08")];
    let host = s.addr.to_string();
    let call = |region: &'static str,
                service: &'static str,
                token: Option<&'static str>,
                params: Vec<(&'static str, &'static str)>| {
        let body = form(&params);
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let req = sigv4::HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let mut h: Vec<(String, String)> = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )];
        h.extend(sigv4::sign(
            &req,
            &s.key,
            &s.secret,
            token,
            region,
            service,
            now(),
        ));
        (h, body)
    };
    for (region, service) in [
        ("zz-evil-9", "iam"),
        ("eu-west-1", "iam"),
        ("zz-evil-9", "sts"),
        ("us-east-1x", "sts"),
    ] {
        let params = if service == "iam" {
            list.to_vec()
        } else {
            vec![("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]
        };
        let (h, body) = call(region, service, None, params);
        let r = s.send("POST", "/", &h, body.into_bytes()).await;
        r.expect_error(403, "SignatureDoesNotMatch");
        assert!(r.message().contains("valid region"), "{}", r.message());
    }
    // Regional STS endpoints are fine.
    let (h, body) = call(
        "eu-west-1",
        "sts",
        None,
        vec![("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    );
    s.send("POST", "/", &h, body.into_bytes()).await.ok();
    let (h, body) = call("us-east-1", "iam", Some("bogus-token"), list.to_vec());
    s.send("POST", "/", &h, body.into_bytes())
        .await
        .expect_error(403, "InvalidClientTokenId");
}

/// Issue 11, finding 3: through `server::serve` as `irsa serve` runs it, one
/// client address holds at most its cap of connections (the rest are closed
/// at once), and another client is still served.
#[tokio::test(flavor = "multi_thread")]
async fn r11_3_one_client_cannot_starve_the_server_of_connections() {
    let s = Server::start().await;
    let per_address = listen::Limits::default().per_address;
    let mut held = Vec::new();
    for _ in 0..per_address + 20 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        held.push(socket.connect(s.addr).await.unwrap());
    }
    // Well within the 10 s handshake time: only refused ones are closed.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut closed = 0;
    for c in &mut held {
        let mut buf = [0u8; 1];
        if matches!(c.try_read(&mut buf), Ok(0)) || c.peer_addr().is_err() {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "connections beyond the per-address cap");
    let r = s.send("GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    let metrics = s.send("GET", "/metrics", &[], Vec::new()).await;
    let text = metrics.body;
    assert!(
        text.contains("irsa_connections_refused_total{reason=\"per_address\"} 20"),
        "{text}"
    );
}

/// An OIDC issuer served on loopback for findings 7 and 8: counts its
/// discovery requests, answers keys with `max-age=1`, and hangs on demand.
struct Issuer {
    url: String,
    key: std::sync::Arc<oidc::SigningKey>,
    discoveries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    others: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Issuer {
    async fn start() -> Issuer {
        use axum::routing::get;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let key = Arc::new(oidc::SigningKey::generate().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/issuer", listener.local_addr().unwrap());
        let doc = oidc::discovery_document(&url, &format!("{url}/jwks"));
        let jwks = oidc::Jwks {
            keys: vec![key.jwk()],
        }
        .to_json();
        let (discoveries, others, hang) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (d, h) = (discoveries.clone(), hang.clone());
        let o = others.clone();
        let app = axum::Router::new()
            .route(
                "/issuer/.well-known/openid-configuration",
                get(move || {
                    let (doc, d, h) = (doc.clone(), d.clone(), h.clone());
                    async move {
                        d.fetch_add(1, Ordering::SeqCst);
                        if h.load(Ordering::SeqCst) {
                            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                        }
                        doc
                    }
                }),
            )
            .route(
                "/issuer/jwks",
                get(move || {
                    let jwks = jwks.clone();
                    async move { ([("cache-control", "max-age=1")], jwks) }
                }),
            )
            .fallback(move || {
                o.fetch_add(1, Ordering::SeqCst);
                async { "nothing here" }
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Issuer {
            url,
            key,
            discoveries,
            others,
            hang,
        }
    }

    fn token(&self, iss: &str) -> String {
        self.key
            .service_account_token(&oidc::ServiceAccountToken {
                issuer: iss,
                namespace: "production",
                service_account: "s3-app",
                audiences: &["sts.amazonaws.com".to_string()],
                issued_at: now(),
                expiration_seconds: 3600,
                pod: None,
            })
            .unwrap()
    }

    /// Registers the issuer and a role trusting it in `s`.
    async fn register(&self, s: &Server) {
        s.iam(
            "CreateOpenIDConnectProvider",
            &[
                ("Url", &self.url),
                ("ClientIDList.member.1", "sts.amazonaws.com"),
            ],
        )
        .await
        .ok();
        let trust = TRUST.replace(
            "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            self.url.trim_start_matches("http://"),
        );
        s.iam(
            "CreateRole",
            &[
                ("RoleName", "s3-app-role"),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await
        .ok();
    }
}

/// Finding 7: what a token names never causes a fetch, a metric series or a
/// log line; keys are fetched for registered providers only, from the
/// provider's own URL.
#[tokio::test(flavor = "multi_thread")]
async fn r11_7_token_issuers_cause_no_fetches_and_no_metric_series() {
    use std::sync::atomic::Ordering;
    let s = Server::start().await;
    let issuer = Issuer::start().await;
    issuer.register(&s).await;
    // 100 tokens naming unregistered issuers on the same host: no fetch.
    for i in 0..100 {
        let token = issuer.token(&format!("{}/other{i}", issuer.url));
        s.web_identity(ROLE, &token)
            .await
            .expect_error(400, "InvalidIdentityToken");
    }
    assert_eq!(issuer.others.load(Ordering::SeqCst), 0);
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), 0);
    // 100 spellings of the registered issuer (`iss` + "/"×i): one fetch, of
    // the provider's URL; the extra slashes fail the signature's claim match.
    s.web_identity(ROLE, &issuer.token(&issuer.url)).await.ok();
    for i in 1..=100 {
        let iss = format!("{}{}", issuer.url, "/".repeat(i));
        let _ = s.web_identity(ROLE, &issuer.token(&iss)).await;
    }
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.others.load(Ordering::SeqCst), 0);
    let metrics = s.send("GET", "/metrics", &[], Vec::new()).await.body;
    // Metrics are per process: look at this issuer's host only.
    let host = issuer
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/issuer");
    let series: Vec<&str> = metrics.lines().filter(|l| l.contains(host)).collect();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(
        series
            .iter()
            .all(|l| l.contains(&format!("issuer=\"{}\"", issuer.url))),
        "{series:?}"
    );
}

/// Finding 8: a hanging issuer with stale keys does not hold calls: stale keys
/// answer at once, and one background refresh runs, not one per call.
#[tokio::test(flavor = "multi_thread")]
async fn r11_8_a_hanging_issuer_with_stale_keys_holds_no_call() {
    use std::sync::atomic::Ordering;
    let s = std::sync::Arc::new(Server::start().await);
    let issuer = Issuer::start().await;
    issuer.register(&s).await;
    s.web_identity(ROLE, &issuer.token(&issuer.url)).await.ok();
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), 1);
    // The keys' max-age (1 s) passes; the issuer starts hanging.
    issuer.hang.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (s, token) = (s.clone(), issuer.token(&issuer.url));
            tokio::spawn(async move { s.web_identity(ROLE, &token).await.status })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    // Answered from the cache, well before the issuer's 5 s fetch timeout.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // One refresh is in flight behind them, not twenty.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(issuer.discoveries.load(Ordering::SeqCst), 2);
}

/// Finding 4: with the audit trail's disk full (SQLite's real SQLITE_FULL,
/// from a page cap), calls are refused with 503 ServiceUnavailable naming
/// the cause, `/readyz` says why while `/healthz` stays ok, and both recover
/// once there is room; a change refused so changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn r11_4_a_full_audit_disk_is_a_clear_503_and_readyz_says_so() {
    let s = Server::start().await;
    assert_eq!(s.send("GET", "/readyz", &[], Vec::new()).await.status, 200);
    s.iam("ListRoles", &[]).await.ok();
    let pages: u64 = audit_pages(&s);
    s.audit_store.cap_audit_pages(Some(pages)).unwrap();
    // Fill the last pages, then every call is refused.
    let mut refused = None;
    for _ in 0..200 {
        let r = s.iam("ListRoles", &[]).await;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the capped trail filled up");
    r.expect_error(503, "ServiceUnavailable");
    assert!(r.message().contains("audit trail"), "{}", r.message());
    assert!(r.message().contains("full"), "{}", r.message());
    let ready = s.send("GET", "/readyz", &[], Vec::new()).await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.contains("audit trail cannot be written"),
        "{}",
        ready.body
    );
    assert_eq!(s.send("GET", "/healthz", &[], Vec::new()).await.status, 200);
    // A role created now: CreateRole commits with its event staged in
    // irsa.db (not full), so its answer is a success, never a 500.
    let trust = TRUST.to_string();
    let created = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "while-full"),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await;
    assert!(
        created.status == 200 || created.status == 503,
        "{}",
        created.body
    );
    let exists = s
        .store
        .role(common::ACCOUNT, "while-full")
        .unwrap()
        .is_some();
    assert_eq!(
        exists,
        created.status == 200,
        "an answer says what happened"
    );
    // Room again: calls and readiness recover.
    s.audit_store.cap_audit_pages(None).unwrap();
    s.iam("ListRoles", &[]).await.ok();
    assert_eq!(s.send("GET", "/readyz", &[], Vec::new()).await.status, 200);
}

/// Pages `audit.db` has now.
fn audit_pages(s: &Server) -> u64 {
    let bytes = std::fs::metadata(s.dir.path().join("audit.db"))
        .unwrap()
        .len();
    let wal = std::fs::metadata(s.dir.path().join("audit.db-wal")).map_or(0, |m| m.len());
    (bytes + wal) / 4096 + 1
}
