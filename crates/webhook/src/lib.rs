//! `irsa webhook`: the pod identity mutating admission webhook, a drop-in
//! for amazon-eks-pod-identity-webhook (same annotations, flags and
//! results), with minimal patches, no ServiceAccount/pod race and a small
//! cache.

pub mod annotations;
pub mod cache;
pub mod kube_source;
pub mod metrics;
pub mod mutate;
pub mod review;
pub mod server;
pub mod settings;
pub mod sources;
pub mod tls;
