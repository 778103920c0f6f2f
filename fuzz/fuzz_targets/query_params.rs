//! Any query string and form body: the Query protocol's parameters parse or
//! are refused with a ValidationError, and every list and tag structure named
//! in them reads without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the query string, the rest the body.
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => data.split_at(at),
        None => (data, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    server::fuzzing::query_protocol(&query, body);
});
