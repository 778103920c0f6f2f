//! The webhook over real HTTPS: AdmissionReview v1 and v1beta1 round trips,
//! bad input, certificate rotation without restart, and the
//! ServiceAccount/pod race against an API server that answers as
//! Kubernetes does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use webhook::cache::{Account, Cache};
use webhook::settings::Settings;

const ROLE: &str = "arn:aws:iam::111122223333:role/s3-app-role";

fn cache_with_role() -> Arc<Cache> {
    let cache = Arc::new(Cache::default());
    let accounts = webhook::sources::parse_service_accounts(
        &format!(
            "kind: ServiceAccount\nmetadata:\n  name: s3-app\n  namespace: production\n  annotations:\n    eks.amazonaws.com/role-arn: {ROLE}\n"
        ),
        "eks.amazonaws.com",
    )
    .unwrap();
    cache.replace_all(accounts);
    cache
}

async fn get_text(client: &reqwest::Client, url: &str, path: &str) -> String {
    let r = client.get(format!("{url}{path}")).send().await.unwrap();
    r.text().await.unwrap()
}

/// Posts a v1 review of `pod` being created in `namespace`.
async fn admit(
    client: &reqwest::Client,
    url: &str,
    uid: &str,
    namespace: &str,
    pod: Value,
) -> (u16, Value) {
    let body = serde_json::to_vec(&review("admission.k8s.io/v1", uid, namespace, pod)).unwrap();
    post(client, url, "application/json", body).await
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = client
        .post(format!("{url}/mutate"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admission_v1_and_v1beta1_round_trips() {
    let w = start(Settings::default(), cache_with_role(), None, Duration::ZERO).await;
    let client = client(&w.cert.0);
    for version in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
        let pod = pod("s3-app");
        let body =
            serde_json::to_vec(&review(version, "uid-1", "production", pod.clone())).unwrap();
        let (status, answer) = post(&client, &w.url, "application/json", body).await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["apiVersion"], version,
            "the request's version is echoed"
        );
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["response"]["uid"], "uid-1");
        assert_eq!(answer["response"]["allowed"], true);
        let got = patched(&pod, &answer);
        assert_eq!(
            got["spec"]["containers"][0]["env"][0],
            json!({"name": "AWS_ROLE_ARN", "value": ROLE})
        );
        assert_eq!(got["spec"]["volumes"][0]["name"], "aws-iam-token");
    }
    // A pod of another ServiceAccount: allowed, no patch.
    let body = serde_json::to_vec(&review(
        "admission.k8s.io/v1",
        "uid-2",
        "production",
        pod("default"),
    ))
    .unwrap();
    let (status, answer) = post(&client, &w.url, "application/json; charset=utf-8", body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"], json!({"uid": "uid-2", "allowed": true}));
    // HTTP/2 works as well as HTTP/1.1 (the API server may use either).
    let h2 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(w.cert.0.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(format!("{}/healthz", w.url)).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    let metrics = get_text(&client, &w.url, "/metrics").await;
    assert!(
        metrics.contains(r#"irsa_webhook_admissions_total{outcome="mutated"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"irsa_webhook_admissions_total{outcome="unchanged"} 1"#));
    assert!(metrics.contains(r#"irsa_webhook_mutations_total{method="sts_web_identity"} 2"#));
    assert!(metrics.contains("irsa_webhook_service_accounts 1"));
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_never_hangs() {
    let w = start(Settings::default(), cache_with_role(), None, Duration::ZERO).await;
    let client = client(&w.cert.0);
    // (content type, body, HTTP status, status code in the review, message)
    let cases: Vec<(&str, Vec<u8>, u16, u16, &str)> = vec![
        ("application/json", b"not json".to_vec(), 400, 400, "the body is not JSON"),
        ("text/plain", b"{}".to_vec(), 415, 415, "Content-Type must be application/json, got `text/plain`"),
        ("application/json", b"{}".to_vec(), 400, 400, "expected an AdmissionReview"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview"}"#.to_vec(), 400, 400, "expected an AdmissionReview"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), 400, 400, "has no request"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"}}}"#.to_vec(), 400, 400, "has no uid"),
        // With a uid the API server can match the answer: 200, allowed false, so it shows the message.
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","kind":"Pod"},"operation":"CREATE"}}"#.to_vec(), 200, 400, "has no object"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","kind":"Pod"},"object":{"kind":"Pod","spec":[]}}}"#.to_vec(), 200, 400, "spec is not an object"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","kind":"Pod"},"object":{"kind":"Deployment"}}}"#.to_vec(), 200, 400, "the object is not"),
        ("application/json", br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","kind":"Pod"},"object":{"kind":"Pod","spec":{}}}}"#.to_vec(), 200, 400, "has no namespace"),
        (
            "application/json",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","namespace":"n","kind":{"group":"","kind":"Pod"},"object":{"kind":"Pod","spec":{"containers":[{"name":"a","env":{"x":1}}]}}}}"#.to_vec(),
            200,
            400,
            "spec.containers[0].env has the wrong type",
        ),
    ];
    for (content_type, body, want_status, want_code, want_message) in cases {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (status, answer) = post(&client, &w.url, content_type, body).await;
        assert_eq!(status, want_status, "{shown}");
        assert_eq!(answer["kind"], "AdmissionReview", "{shown}");
        assert_eq!(answer["response"]["allowed"], false, "{shown}");
        assert_eq!(answer["response"]["status"]["code"], want_code, "{shown}");
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains(want_message), "{shown}: {message}");
        if shown.contains("v1beta1") {
            assert_eq!(
                answer["apiVersion"], "admission.k8s.io/v1beta1",
                "answered in the review's version"
            );
        }
    }
    // Another kind and another operation are left alone.
    let mut deployment = review(
        "admission.k8s.io/v1",
        "u-d",
        "production",
        json!({"kind": "Deployment"}),
    );
    deployment["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let (status, answer) = post(
        &client,
        &w.url,
        "application/json",
        serde_json::to_vec(&deployment).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"]["patch"].is_null());
    assert!(answer["response"]["warnings"].is_null());
    let mut update = review("admission.k8s.io/v1", "u-u", "production", pod("s3-app"));
    update["request"]["operation"] = json!("UPDATE");
    let (_, answer) = post(
        &client,
        &w.url,
        "application/json",
        serde_json::to_vec(&update).unwrap(),
    )
    .await;
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"]["patch"].is_null());
    // Too large a body: refused, not read to the end.
    let huge = vec![b' '; webhook::server::MAX_BODY + 1];
    let r = client
        .post(format!("{}/mutate", w.url))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("4194304 bytes at most")
    );
    // A client that connects and says nothing is dropped, and others are served meanwhile.
    let idle = tokio::net::TcpStream::connect(w.url.trim_start_matches("https://"))
        .await
        .unwrap();
    let r = client
        .get(format!("{}/healthz", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    drop(idle);
    let metrics = get_text(&client, &w.url, "/metrics").await;
    assert!(
        metrics.contains(r#"irsa_webhook_admissions_total{outcome="rejected"} 12"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"irsa_webhook_admissions_total{outcome="ignored"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_restart() {
    let w = start(Settings::default(), cache_with_role(), None, Duration::ZERO).await;
    let old = client(&w.cert.0);
    assert!(old.get(format!("{}/healthz", w.url)).send().await.is_ok());
    let next = certificate();
    let new = client(&next.0);
    assert!(
        new.get(format!("{}/healthz", w.url)).send().await.is_err(),
        "not yet rotated"
    );
    // A key that does not match the certificate is refused: the old pair stays.
    std::fs::write(w.dir.path().join("tls.key"), certificate().1).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh_old = client(&w.cert.0);
    assert!(
        fresh_old
            .get(format!("{}/healthz", w.url))
            .send()
            .await
            .is_ok(),
        "a mismatched pair is not loaded"
    );
    write_certificate(w.dir.path(), &next);
    eventually("the new certificate is served", async || {
        new.get(format!("{}/healthz", w.url)).send().await.is_ok()
    })
    .await;
    // New connections get the new certificate (pooled ones keep theirs).
    let fresh_old = client(&w.cert.0);
    assert!(
        fresh_old
            .get(format!("{}/healthz", w.url))
            .send()
            .await
            .is_err()
    );
}

async fn with_api(wait: Duration) -> (FakeApi, Running) {
    let api = FakeApi::new();
    api.listed.lock().unwrap().push(service_account(
        "production",
        "listed",
        10,
        &[("eks.amazonaws.com/role-arn", ROLE)],
    ));
    let dir = tempfile::tempdir().unwrap();
    let (_, kubeconfig) = api.serve(dir.path()).await;
    let client = webhook::kube_source::client(&webhook::kube_source::Connect {
        kubeconfig: Some(kubeconfig.clone()),
        api: None,
    })
    .await
    .unwrap();
    let cache = Arc::new(Cache::default());
    let metrics = Arc::new(webhook::metrics::Metrics::default());
    tokio::spawn(webhook::kube_source::watch_service_accounts(
        client.clone(),
        cache.clone(),
        "eks.amazonaws.com".into(),
        metrics,
    ));
    let w = start(Settings::default(), cache, Some(client), wait).await;
    std::mem::forget(dir);
    (api, w)
}

#[tokio::test]
async fn a_service_account_created_just_before_its_pod_is_fetched_not_missed() {
    let (api, w) = with_api(Duration::from_secs(2)).await;
    let http = client(&w.cert.0);
    eventually("the cache is synced", async || {
        http.get(format!("{}/readyz", w.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
    })
    .await;
    // The listed one needs no API call.
    let (_, answer) = admit(&http, &w.url, "a", "production", pod("listed")).await;
    assert!(answer["response"]["patch"].is_string());
    assert!(api.gets.lock().unwrap().is_empty());
    // Created after the list, its watch event not delivered yet: the race.
    api.stored.lock().unwrap().push(service_account(
        "production",
        "late",
        11,
        &[("eks.amazonaws.com/role-arn", ROLE)],
    ));
    let p = pod("late");
    let (status, answer) = admit(&http, &w.url, "b", "production", p.clone()).await;
    assert_eq!(status, 200);
    let got = patched(&p, &answer);
    assert_eq!(
        got["spec"]["containers"][0]["env"][0]["value"], ROLE,
        "mutated, not left bare"
    );
    assert_eq!(*api.gets.lock().unwrap(), ["production/late"]);
    // Now cached: the next pod needs no GET.
    admit(&http, &w.url, "c", "production", pod("late")).await;
    assert_eq!(api.gets.lock().unwrap().len(), 1);
    // A ServiceAccount that does not exist: allowed unchanged, with a warning.
    let (status, answer) = admit(&http, &w.url, "d", "production", pod("ghost")).await;
    assert_eq!(status, 200);
    assert!(answer["response"]["patch"].is_null());
    assert!(
        answer["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("production/ghost does not exist")
    );
    // Watch events keep the cache current.
    api.events.send(json!({"type": "ADDED", "object": {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": service_account("batch", "watched", 12, &[("eks.amazonaws.com/role-arn", ROLE)])["metadata"]}})).unwrap();
    eventually("the watched ServiceAccount is cached", async || {
        w.webhook.cache.resolve("batch", "watched") != webhook::cache::Resolution::Unknown
    })
    .await;
    api.events.send(json!({"type": "DELETED", "object": {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": service_account("production", "listed", 13, &[])["metadata"]}})).unwrap();
    eventually("the deleted ServiceAccount is forgotten", async || {
        w.webhook.cache.resolve("production", "listed") == webhook::cache::Resolution::Unknown
    })
    .await;
    let metrics = get_text(&http, &w.url, "/metrics").await;
    assert!(
        metrics.contains("irsa_webhook_cache_misses_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"irsa_webhook_api_fetches_total{outcome="found"} 1"#));
    assert!(metrics.contains(r#"irsa_webhook_api_fetches_total{outcome="not_found"} 1"#));
}

#[tokio::test]
async fn an_api_too_slow_to_answer_leaves_the_decision_to_the_failure_policy() {
    let (api, w) = with_api(Duration::from_millis(300)).await;
    *api.get_delay.lock().unwrap() = Duration::from_secs(3);
    let http = client(&w.cert.0);
    let started = std::time::Instant::now();
    let (status, answer) = admit(&http, &w.url, "e", "production", pod("slow")).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the grace period"
    );
    assert_eq!(status, 503);
    assert_eq!(answer["response"]["uid"], "e");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("production/slow is not cached yet")
            && message.contains("no answer within 300ms"),
        "{message}"
    );
}

#[tokio::test]
async fn readyz_waits_for_the_first_list() {
    let cache = Arc::new(Cache::default());
    let w = start(Settings::default(), cache.clone(), None, Duration::ZERO).await;
    let http = client(&w.cert.0);
    assert_eq!(
        http.get(format!("{}/readyz", w.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    assert_eq!(
        http.get(format!("{}/healthz", w.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    cache.replace_all(Vec::<(String, String, Account)>::new());
    assert_eq!(
        http.get(format!("{}/readyz", w.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn config_map_mode_reads_roles_from_the_api() {
    let api = FakeApi::new();
    api.listed
        .lock()
        .unwrap()
        .push(service_account("batch", "worker", 10, &[]));
    *api.config_map.lock().unwrap() = Some(
        r#"{"batch/worker": {"RoleARN": "arn:aws:iam::111122223333:role/worker", "UseRegionalSTS": true}}"#.into(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, kubeconfig) = api.serve(dir.path()).await;
    let kube = webhook::kube_source::client(&webhook::kube_source::Connect {
        kubeconfig: Some(kubeconfig.clone()),
        api: None,
    })
    .await
    .unwrap();
    let cache = Arc::new(Cache::default());
    tokio::spawn(webhook::kube_source::watch_service_accounts(
        kube.clone(),
        cache.clone(),
        "eks.amazonaws.com".into(),
        Arc::new(webhook::metrics::Metrics::default()),
    ));
    tokio::spawn(webhook::kube_source::watch_config_map(
        kube.clone(),
        "eks".into(),
        cache.clone(),
    ));
    let w = start(
        Settings::default(),
        cache.clone(),
        Some(kube),
        Duration::from_secs(1),
    )
    .await;
    eventually("the ConfigMap's role is known", async || {
        matches!(
            cache.resolve("batch", "worker"),
            webhook::cache::Resolution::WebIdentity(_)
        )
    })
    .await;
    let p = pod("worker");
    let (status, answer) = admit(&client(&w.cert.0), &w.url, "cm", "batch", p.clone()).await;
    assert_eq!(status, 200);
    let env = &patched(&p, &answer)["spec"]["containers"][0]["env"];
    assert_eq!(
        env[0],
        json!({"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"})
    );
    assert_eq!(
        env[1],
        json!({"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::111122223333:role/worker"})
    );
}

#[tokio::test]
async fn the_pod_identity_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("identities.json");
    std::fs::write(
        &file,
        r#"{"identities": [{"namespace": "production", "serviceAccount": "s3-app"}]}"#,
    )
    .unwrap();
    let cache = cache_with_role();
    tokio::spawn(webhook::sources::follow_container_credentials(
        file.clone(),
        cache.clone(),
    ));
    eventually("Pod Identity applies", async || {
        matches!(
            cache.resolve("production", "s3-app"),
            webhook::cache::Resolution::PodIdentity(Some(_))
        )
    })
    .await;
    // A broken file keeps the previous associations.
    std::fs::write(&file, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(matches!(
        cache.resolve("production", "s3-app"),
        webhook::cache::Resolution::PodIdentity(_)
    ));
    // An empty file: none, and the role annotation applies again.
    std::fs::write(&file, "").unwrap();
    eventually("back to IRSA", async || {
        matches!(
            cache.resolve("production", "s3-app"),
            webhook::cache::Resolution::WebIdentity(_)
        )
    })
    .await;
}

#[tokio::test]
async fn an_uncached_annotated_service_account_wins_over_the_config_map() {
    // The ServiceAccount exists with its own role, but the watch has not
    // delivered it; the ConfigMap names another role for it.
    let (api, w) = with_api(Duration::from_secs(2)).await;
    api.stored.lock().unwrap().push(service_account(
        "production",
        "fresh",
        12,
        &[("eks.amazonaws.com/role-arn", ROLE)],
    ));
    w.webhook.cache.set_config_map(webhook::sources::parse_config_map(
        r#"{"production/fresh": {"RoleARN": "arn:aws:iam::111122223333:role/from-config-map"}}"#,
    ).unwrap());
    let p = pod("fresh");
    let (_, answer) = admit(&client(&w.cert.0), &w.url, "f", "production", p.clone()).await;
    assert_eq!(
        patched(&p, &answer)["spec"]["containers"][0]["env"][0]["value"],
        ROLE,
        "fetched, then decided"
    );
    assert_eq!(*api.gets.lock().unwrap(), ["production/fresh"]);
}

#[tokio::test]
async fn concurrent_misses_for_one_service_account_make_one_get() {
    let (api, w) = with_api(Duration::from_secs(2)).await;
    *api.get_delay.lock().unwrap() = Duration::from_millis(300);
    api.stored.lock().unwrap().push(service_account(
        "production",
        "scaled",
        14,
        &[("eks.amazonaws.com/role-arn", ROLE)],
    ));
    let http = client(&w.cert.0);
    let mut replicas = Vec::new();
    for i in 0..8 {
        let (http, url) = (http.clone(), w.url.clone());
        replicas.push(tokio::spawn(async move {
            let body = serde_json::to_vec(&review(
                "admission.k8s.io/v1",
                &format!("r{i}"),
                "production",
                pod("scaled"),
            ))
            .unwrap();
            post(&http, &url, "application/json", body).await
        }));
    }
    for r in replicas {
        let (status, answer) = r.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            patched(&pod("scaled"), &answer)["spec"]["containers"][0]["env"][0]["value"],
            ROLE
        );
    }
    assert_eq!(
        *api.gets.lock().unwrap(),
        ["production/scaled"],
        "one GET for eight pods"
    );
}

/// Issue 11, finding 12: one client holding more half-open TLS handshakes
/// than its share (a quarter of the 1,024 connections) does not keep the API
/// server's reviews out: its extra connections are closed at once.
#[tokio::test(flavor = "multi_thread")]
async fn r11_12_half_open_handshakes_from_one_address_do_not_block_reviews() {
    let w = start(Settings::default(), cache_with_role(), None, Duration::ZERO).await;
    let addr: std::net::SocketAddr = w.url.trim_start_matches("https://").parse().unwrap();
    let share = webhook::server::limits().per_address;
    let mut held = Vec::new();
    for _ in 0..share + 30 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        held.push(socket.connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed = held
        .iter()
        .filter(|c| matches!(c.try_read(&mut [0u8; 1]), Ok(0)))
        .count();
    assert_eq!(closed, 30, "beyond the per-address share");
    let (status, answer) =
        admit(&client(&w.cert.0), &w.url, "x", "production", pod("s3-app")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], true);
}
