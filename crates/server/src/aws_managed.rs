//! AWS managed policies (`arn:aws:iam::aws:policy/…`), shipped as data with
//! their real documents (see `data/aws-managed-policies/README.md`).

use std::collections::BTreeMap;

use serde_json::Value;

/// One AWS managed policy.
#[derive(Debug, Clone)]
pub(crate) struct AwsPolicy {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) path: String,
    pub(crate) id: String,
    pub(crate) default_version: String,
    pub(crate) description: Option<String>,
    pub(crate) created: String,
    pub(crate) updated: String,
    pub(crate) document: String,
}

const FILES: &[&str] = &[
    include_str!("../data/aws-managed-policies/AdministratorAccess.json"),
    include_str!("../data/aws-managed-policies/PowerUserAccess.json"),
    include_str!("../data/aws-managed-policies/ReadOnlyAccess.json"),
    include_str!("../data/aws-managed-policies/IAMReadOnlyAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonS3ReadOnlyAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonS3FullAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonDynamoDBReadOnlyAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonDynamoDBFullAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonSQSReadOnlyAccess.json"),
    include_str!("../data/aws-managed-policies/AmazonSQSFullAccess.json"),
];

/// Every AWS managed policy irsa ships, by ARN.
pub(crate) fn load() -> BTreeMap<String, AwsPolicy> {
    let mut out = BTreeMap::new();
    for text in FILES {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(name), Some(arn), Some(document)) =
            (s("PolicyName"), s("Arn"), v.get("Document"))
        else {
            continue;
        };
        let policy = AwsPolicy {
            name,
            path: s("Path").unwrap_or_else(|| "/".into()),
            id: s("PolicyId").unwrap_or_default(),
            default_version: s("DefaultVersionId").unwrap_or_else(|| "v1".into()),
            description: s("Description"),
            created: trim_date(&s("CreateDate").unwrap_or_default()),
            updated: trim_date(
                &s("UpdateDate")
                    .or_else(|| s("CreateDate"))
                    .unwrap_or_default(),
            ),
            document: serde_json::to_string_pretty(document).unwrap_or_default(),
            arn: arn.clone(),
        };
        out.insert(arn, policy);
    }
    out
}

/// `2015-02-06T18:39:46+00:00` → `2015-02-06T18:39:46Z`, the form IAM returns.
fn trim_date(d: &str) -> String {
    let base = d.get(..19).unwrap_or(d);
    format!("{base}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_loads_and_parses_as_a_managed_policy() {
        let all = load();
        assert_eq!(all.len(), FILES.len());
        for p in all.values() {
            assert!(p.arn.starts_with("arn:aws:iam::aws:policy/"), "{}", p.arn);
            assert!(p.id.starts_with("ANPA"), "{}", p.id);
            // AWS's own policies may exceed the customer size limits, so only
            // the grammar and the identity-policy rules are checked.
            let doc = policy::parse(&p.document).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            policy::check_use(&doc, policy::PolicyUse::Managed)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert!(
                p.created.ends_with('Z') && p.created.len() == 20,
                "{}",
                p.created
            );
        }
        let s3 = &all["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"];
        assert!(s3.document.contains("s3:Get*"));
    }
}
