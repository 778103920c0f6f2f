pub(crate) mod cluster;
pub(crate) mod policy;
pub(crate) mod serve;
