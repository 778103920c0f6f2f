//! Any body as `aws-chunked`, fed in pieces split at every offset the first
//! byte chooses: the decoder never panics, never yields more data than the
//! body holds, and decodes the same pieces however the body is split. Then
//! the same bytes as an S3 request document (XML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3::chunked::{Decoder, Piece};

fn decode(body: &[u8], step: usize) -> Result<(Vec<u8>, bool), ()> {
    let mut d = Decoder::new();
    let mut data = Vec::new();
    for part in body.chunks(step.max(1)) {
        let mut input = part;
        loop {
            match d.next(&mut input) {
                Ok(Some(Piece::Data(b))) => data.extend_from_slice(b),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return Err(()),
            }
        }
    }
    Ok((data, d.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let whole = decode(body, body.len());
    let split = decode(body, usize::from(step % 17) + 1);
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert_eq!(a, b);
        assert!(a.0.len() <= body.len());
    }
    let _ = s3::xml::parse(body);
});
