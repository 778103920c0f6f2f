//! The shipped Prometheus alerting rules are well-formed and name metrics and
//! labels irsa exports (promtool is not on every machine; this is its stand-in).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

#[test]
fn alert_rules_parse_and_use_exported_metrics() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/irsa-alerts.yaml");
    let doc: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let groups = doc["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    let rules: Vec<&serde_json::Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert!(names.contains(&"IrsaWebIdentityFailures"));
    let metrics = include_str!("../../server/src/metrics.rs");
    for r in &rules {
        let expr = r["expr"].as_str().unwrap();
        assert!(r["for"].as_str().unwrap().ends_with('m'));
        assert!(r["labels"]["severity"].is_string());
        assert!(r["annotations"]["summary"].is_string());
        // Balanced parentheses and braces, as promtool's parser would insist.
        for (open, close) in [('(', ')'), ('{', '}'), ('[', ']')] {
            assert_eq!(
                expr.matches(open).count(),
                expr.matches(close).count(),
                "{expr}"
            );
        }
        // Every irsa metric the rule reads is registered.
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(base) = word.strip_prefix("irsa_") {
                let base = base.trim_end_matches("_total").trim_end_matches("_bucket");
                assert!(
                    metrics.contains(&format!("\"irsa_{base}\"")),
                    "{word} is not exported"
                );
            }
        }
    }
    let web = rules
        .iter()
        .find(|r| r["alert"] == "IrsaWebIdentityFailures")
        .unwrap();
    for label in [
        "service=\"sts\"",
        "action=\"AssumeRoleWithWebIdentity\"",
        "outcome=\"error\"",
        "error_code",
    ] {
        assert!(web["expr"].as_str().unwrap().contains(label), "{label}");
    }
}
