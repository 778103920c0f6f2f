pub(crate) mod audit;
pub(crate) mod cluster;
pub(crate) mod doctor;
pub(crate) mod policy;
pub(crate) mod serve;
pub(crate) mod webhook;
