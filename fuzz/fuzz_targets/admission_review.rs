//! Any body: an AdmissionReview parses or is refused with a message, and a
//! pod that parses is patched for both credential methods without panicking.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use webhook::annotations::AccountConfig;
use webhook::mutate::{Method, patch};
use webhook::review::{Parsed, parse};
use webhook::settings::Settings;

static ACCOUNT: LazyLock<AccountConfig> = LazyLock::new(|| {
    AccountConfig::from_annotations(
        "eks.amazonaws.com",
        [
            ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/r"),
            ("eks.amazonaws.com/sts-regional-endpoints", "true"),
        ],
    )
});

fuzz_target!(|data: &[u8]| {
    let Ok(Parsed::Pod(request)) = parse(Some("application/json"), data) else {
        return;
    };
    let settings = Settings {
        aws_default_region: Some("eu-west-1".into()),
        ..Settings::default()
    };
    for method in [Method::WebIdentity(&ACCOUNT), Method::PodIdentity(Some(&ACCOUNT))] {
        let ops = patch(&request.pod, method, &settings);
        let _ = serde_json::to_vec(&ops).expect("a patch serializes");
    }
});
