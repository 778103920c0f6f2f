//! Issue 11, finding 5: one small review cannot exhaust the webhook's memory.
//! Peak heap is measured by counting allocations (allocation-counter), so the
//! bound is exact and machine-independent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use webhook::annotations::AccountConfig;
use webhook::cache::{Account, Cache};
use webhook::metrics::Metrics;
use webhook::review::MAX_CONTAINERS;
use webhook::server::Webhook;
use webhook::settings::Settings;

fn webhook() -> Webhook {
    let cache = Cache::default();
    cache.upsert(
        "production",
        "s3-app",
        Account {
            resource_version: "1".into(),
            config: Arc::new(AccountConfig::from_annotations(
                "eks.amazonaws.com",
                [(
                    "eks.amazonaws.com/role-arn",
                    "arn:aws:iam::111122223333:role/s3-app-role",
                )],
            )),
        },
    );
    Webhook {
        settings: Settings {
            aws_default_region: Some("eu-west-1".into()),
            ..Settings::default()
        },
        cache: Arc::new(cache),
        client: None,
        lookup_wait: Duration::from_secs(1),
        metrics: Arc::new(Metrics::default()),
        inflight: Default::default(),
    }
}

/// A review of a pod with `n` bare containers, as compact as JSON allows.
fn review(n: usize) -> Vec<u8> {
    let containers: Vec<Value> = (0..n).map(|i| json!({"name": format!("c{i}")})).collect();
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "operation": "CREATE", "namespace": "production",
                    "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                               "spec": {"serviceAccountName": "s3-app", "containers": containers}}}
    }))
    .unwrap()
}

fn decide(w: &Webhook, body: &[u8]) -> (webhook::server::Answer, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut answer = None;
    let counted = allocation_counter::measure(|| {
        answer = Some(runtime.block_on(w.admit(Some("application/json"), body)));
    });
    (answer.unwrap(), counted.bytes_max as usize)
}

#[test]
fn r11_5_a_pod_of_15000_containers_is_refused_in_little_memory() {
    let w = webhook();
    let body = review(15_000);
    assert!(body.len() < 270_000, "{}", body.len());
    let (answer, peak) = decide(&w, &body);
    assert_eq!(answer.outcome, "rejected");
    assert_eq!(answer.body["response"]["allowed"], false);
    let message = answer.body["response"]["status"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("15000 containers"), "{message}");
    assert!(message.contains(&MAX_CONTAINERS.to_string()), "{message}");
    // Before the fix the patch alone peaked at 159 MB.
    assert!(peak < 16 << 20, "peak heap {peak} bytes");
}

#[test]
fn r11_5_the_largest_admitted_pod_is_mutated_within_bounded_memory() {
    let w = webhook();
    let body = review(MAX_CONTAINERS);
    let (answer, peak) = decide(&w, &body);
    assert_eq!(answer.outcome, "mutated");
    assert!(peak < 16 << 20, "peak heap {peak} bytes");
    let over = review(MAX_CONTAINERS + 1);
    assert_eq!(decide(&w, &over).0.outcome, "rejected");
}

#[test]
fn r11_5_a_largest_body_of_tiny_containers_is_refused_within_bounded_memory() {
    // 4 MiB is the body limit: about 220,000 bare containers.
    let w = webhook();
    let body = review(220_000);
    assert!(body.len() < webhook::server::MAX_BODY, "{}", body.len());
    let (answer, peak) = decide(&w, &body);
    assert_eq!(answer.outcome, "rejected");
    assert_eq!(answer.status, 413);
    let message = answer.body["response"]["status"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("more than 100000 JSON values"),
        "{message}"
    );
    // Counted, never decoded: before, this review decoded to 150 MB.
    assert!(peak < 1 << 20, "peak heap {peak} bytes");
}

#[test]
fn r11_5_a_large_pod_of_long_strings_is_still_mutated() {
    // 3 MiB in a few long values: few JSON values, so it is decoded.
    let w = webhook();
    let mut pod: Value = serde_json::from_slice(&review(2)).unwrap();
    pod["request"]["object"]["metadata"]["annotations"] = json!({"config": "x".repeat(3 << 20)});
    let body = serde_json::to_vec(&pod).unwrap();
    let (answer, _) = decide(&w, &body);
    assert_eq!(answer.outcome, "mutated");
}
