pub(crate) mod policy;
pub(crate) mod serve;
