//! Wire protocols: AWS Query requests and their XML responses.

pub(crate) mod query;
pub(crate) mod xml;
