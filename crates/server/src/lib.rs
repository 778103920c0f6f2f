//! irsa's AWS-compatible endpoint.
