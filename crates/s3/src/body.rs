//! A request body received as S3 receives it: streamed (never held whole),
//! decoded from `aws-chunked` when it is, held to what the request declared —
//! its `x-amz-content-sha256`, chunk and trailer signatures, Content-MD5, a
//! flexible checksum in a header or trailer, its decoded length — before
//! anything it carried is kept. A mismatch is S3's error and the caller
//! drops what was written.

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use md5::Digest as _;
use sha2::Sha256;

use crate::checksum::{Algorithm, Hasher, Md5, base64, hex};
use crate::chunked::{Decoder, Piece};
use crate::error::S3Error;

/// The signing material of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
#[derive(Debug, Clone)]
pub struct ChunkSigning {
    /// The signing key of the request's scope.
    pub key: [u8; 32],
    /// The request date.
    pub date: sigv4::AmzDate,
    /// The credential scope.
    pub scope: sigv4::Scope,
    /// The request's own signature, which the first chunk chains.
    pub seed: String,
}

/// What the request's `x-amz-content-sha256` says its body is.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The body's SHA-256, lowercase hex.
    Sha256(String),
    /// `UNSIGNED-PAYLOAD` (or a presigned URL's body).
    Unsigned,
    /// `aws-chunked` with chunk signatures (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
    /// `…-TRAILER` with a signed trailer).
    SignedChunks {
        /// The signing material.
        signing: Box<ChunkSigning>,
        /// Whether trailing headers follow (signed).
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked`, unsigned, with trailers.
    UnsignedChunks,
}

impl Payload {
    /// Reads `x-amz-content-sha256` (absent: `UNSIGNED-PAYLOAD` for
    /// presigned URLs and anonymous requests). `signing` is the request's
    /// signing material when it is signed with the Authorization header.
    pub fn from_header(
        value: Option<&str>,
        signing: Option<ChunkSigning>,
    ) -> Result<Payload, S3Error> {
        let streaming = |trailer| match signing.clone() {
            Some(s) => Ok(Payload::SignedChunks {
                signing: Box::new(s),
                trailer,
            }),
            None => Err(S3Error::invalid_request(
                "A streaming signed payload needs an Authorization header signature.",
            )),
        };
        match value {
            None | Some("UNSIGNED-PAYLOAD") => Ok(Payload::Unsigned),
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => streaming(false),
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") => streaming(true),
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Ok(Payload::UnsignedChunks),
            Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Payload::Sha256(v.to_ascii_lowercase()))
            }
            Some(v) => Err(S3Error::invalid_argument(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                "x-amz-content-sha256",
                v,
            )),
        }
    }

    fn is_chunked(&self) -> bool {
        matches!(self, Payload::SignedChunks { .. } | Payload::UnsignedChunks)
    }
}

/// What a request declared about its body besides the payload hash.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// `Content-MD5`, decoded.
    pub content_md5: Option<Vec<u8>>,
    /// A flexible checksum: the algorithm and the value sent in a header
    /// (`None`: it comes in the trailer).
    pub checksum: Option<(Algorithm, Option<String>)>,
    /// `x-amz-decoded-content-length` of a chunked body.
    pub decoded_length: Option<u64>,
    /// The largest body accepted.
    pub max: u64,
}

/// What was received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Bytes of data.
    pub size: u64,
    /// Their MD5.
    pub md5: [u8; 16],
    /// The flexible checksum, verified.
    pub checksum: Option<(Algorithm, String)>,
}

/// Where received data goes.
pub trait Sink {
    /// Takes a piece of data.
    fn put(&mut self, data: &[u8])
    -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl Sink for Vec<u8> {
    async fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

impl Sink for crate::blobs::BlobWriter {
    async fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.write(data).await
    }
}

/// How long a body may send nothing before the upload is refused: S3's
/// `RequestTimeout` ("Your socket connection to the server was not read from or
/// written to within the timeout period", ErrorResponses.html). A whole upload
/// has no deadline — a 5 GiB body on a slow link is legitimate — but a stalled
/// one does not hold its connection and temporary file for ever.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

fn request_timeout() -> S3Error {
    S3Error::new(
        "RequestTimeout",
        StatusCode::BAD_REQUEST,
        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
    )
}

fn incomplete() -> S3Error {
    S3Error::new(
        "IncompleteBody",
        StatusCode::BAD_REQUEST,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
}

fn too_large(max: u64) -> S3Error {
    S3Error::new(
        "EntityTooLarge",
        StatusCode::BAD_REQUEST,
        "Your proposed upload exceeds the maximum allowed size",
    )
    .with("MaxSizeAllowed", max.to_string())
}

fn chunk_signature_mismatch() -> S3Error {
    S3Error::new(
        "SignatureDoesNotMatch",
        StatusCode::FORBIDDEN,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// Checks data as it arrives.
struct Checks {
    md5: Md5,
    sha256: Option<Sha256>,
    checksum: Option<(Algorithm, Hasher)>,
    size: u64,
    max: u64,
}

impl Checks {
    fn take(&mut self, data: &[u8]) -> Result<(), S3Error> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.max));
        }
        self.md5.update(data);
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some((_, h)) = &mut self.checksum {
            h.update(data);
        }
        Ok(())
    }
}

/// Streams `body` into `sink`, checking it against `payload` and `declared`.
pub async fn receive<S: Sink + Send>(
    body: Body,
    payload: &Payload,
    declared: &Declared,
    sink: &mut S,
) -> Result<Received, S3Error> {
    let mut checks = Checks {
        md5: Md5::new(),
        sha256: matches!(payload, Payload::Sha256(_)).then(Sha256::new),
        checksum: declared
            .checksum
            .as_ref()
            .map(|(a, _)| (*a, Hasher::new(*a))),
        size: 0,
        max: declared.max,
    };
    let mut decoder = payload.is_chunked().then(Decoder::new);
    let signing = match payload {
        Payload::SignedChunks { signing, .. } => Some(signing.as_ref()),
        _ => None,
    };
    let mut previous = signing.map(|s| s.seed.clone()).unwrap_or_default();
    let mut chunk_hash: Option<(Sha256, String)> = None;
    let mut trailers: Vec<(String, String)> = Vec::new();
    let mut body = body;
    while let Some(frame) = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
        .await
        .map_err(|_| request_timeout())?
    {
        let frame = frame.map_err(|_| incomplete())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let Some(decoder) = decoder.as_mut() else {
            checks.take(&data)?;
            sink.put(&data).await.map_err(S3Error::internal)?;
            continue;
        };
        let mut input: &[u8] = &data;
        while let Some(piece) = decoder.next(&mut input).map_err(|m| {
            S3Error::invalid_request(format!("The aws-chunked body is malformed: {}.", m.0))
        })? {
            match piece {
                Piece::Chunk { signature, .. } => {
                    if signing.is_some() {
                        let sig = signature.ok_or_else(chunk_signature_mismatch)?;
                        chunk_hash = Some((Sha256::new(), sig));
                    } else if signature.is_some() {
                        return Err(S3Error::invalid_request(
                            "An unsigned aws-chunked body carries chunk signatures.",
                        ));
                    }
                }
                Piece::Data(d) => {
                    checks.take(d)?;
                    if let Some((h, _)) = &mut chunk_hash {
                        h.update(d);
                    }
                    sink.put(d).await.map_err(S3Error::internal)?;
                }
                Piece::ChunkEnd | Piece::Trailers(_) | Piece::End => {
                    if let (Some(s), Some((h, sig))) = (signing, chunk_hash.take()) {
                        let expected = sigv4::chunk_signature(
                            &s.key,
                            &s.date,
                            &s.scope,
                            &previous,
                            &hex(&h.finalize()),
                        );
                        if !sigv4::signatures_equal(&expected, &sig) {
                            return Err(chunk_signature_mismatch());
                        }
                        previous = expected;
                    }
                    if let Piece::Trailers(t) = piece {
                        trailers = t;
                    }
                }
            }
        }
    }
    if let Some(d) = &decoder {
        if !d.is_done() {
            return Err(incomplete());
        }
        if declared.decoded_length.is_some_and(|n| n != checks.size) {
            return Err(incomplete());
        }
    }
    if let Payload::SignedChunks {
        signing,
        trailer: true,
    } = payload
    {
        check_trailer_signature(signing, &previous, &trailers)?;
    }
    let md5: [u8; 16] = checks.md5.finalize().into();
    if let (Payload::Sha256(want), Some(h)) = (payload, checks.sha256) {
        let got = hex(&h.finalize());
        if !sigv4::signatures_equal(&got, want) {
            return Err(S3Error::new(
                "XAmzContentSHA256Mismatch",
                StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
            .with("ClientComputedContentSHA256", want.clone())
            .with("S3ComputedContentSHA256", got));
        }
    }
    if let Some(want) = &declared.content_md5
        && want.as_slice() != md5
    {
        return Err(S3Error::new(
            "BadDigest",
            StatusCode::BAD_REQUEST,
            "The Content-MD5 you specified did not match what we received.",
        )
        .with("ExpectedDigest", base64(want))
        .with("CalculatedDigest", base64(&md5)));
    }
    let checksum = match (checks.checksum, &declared.checksum) {
        (Some((algorithm, h)), Some((_, sent))) => {
            let sent = match sent {
                Some(v) => Some(v.clone()),
                None => trailers
                    .iter()
                    .find(|(k, _)| k == algorithm.header())
                    .map(|(_, v)| v.clone()),
            };
            let Some(sent) = sent else {
                return Err(S3Error::invalid_request(format!(
                    "The upload declared a {} checksum in its trailer and sent none.",
                    algorithm.name()
                )));
            };
            let got = h.finish();
            if sent != got {
                return Err(S3Error::new(
                    "BadDigest",
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        algorithm.name()
                    ),
                ));
            }
            Some((algorithm, got))
        }
        _ => None,
    };
    Ok(Received {
        size: checks.size,
        md5,
        checksum,
    })
}

/// The trailer's signature chains the last chunk's: its string to sign
/// hashes each trailing header as `name:value\n` (sigv4-streaming-trailers.html).
fn check_trailer_signature(
    s: &ChunkSigning,
    previous: &str,
    trailers: &[(String, String)],
) -> Result<(), S3Error> {
    let mut text = Vec::new();
    let mut sent = None;
    for (k, v) in trailers {
        if k == "x-amz-trailer-signature" {
            sent = Some(v.as_str());
        } else {
            text.extend_from_slice(format!("{k}:{v}\n").as_bytes());
        }
    }
    let expected = sigv4::trailer_signature(&s.key, &s.date, &s.scope, previous, &text);
    match sent {
        Some(sig) if sigv4::signatures_equal(&expected, sig) => Ok(()),
        _ => Err(chunk_signature_mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    /// A body that arrives in the given pieces.
    fn pieces(parts: &[&[u8]]) -> Body {
        let owned: Vec<Result<Vec<u8>, std::io::Error>> =
            parts.iter().map(|p| Ok(p.to_vec())).collect();
        Body::from_stream(futures_util::stream::iter(owned))
    }

    fn declared(max: u64) -> Declared {
        Declared {
            max,
            ..Declared::default()
        }
    }

    async fn take(body: Body, payload: &Payload, d: &Declared) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        receive(body, payload, d, &mut out).await.map(|r| {
            assert_eq!(r.size, out.len() as u64);
            out
        })
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    #[tokio::test]
    async fn a_plain_body_is_kept_with_its_md5() {
        let mut out = Vec::new();
        let r = receive(
            pieces(&[b"hello ", b"world"]),
            &Payload::Unsigned,
            &declared(100),
            &mut out,
        )
        .await
        .unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(r.size, 11);
        assert_eq!(hex(&r.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert!(r.checksum.is_none());
    }

    /// sigv4-auth-using-authorization-header.html: the body must hash to
    /// `x-amz-content-sha256` (XAmzContentSHA256Mismatch otherwise).
    #[tokio::test]
    async fn the_declared_sha256_is_checked() {
        let good = Payload::Sha256(sha256_hex(b"abc"));
        assert_eq!(
            take(pieces(&[b"abc"]), &good, &declared(10)).await.unwrap(),
            b"abc"
        );
        let e = take(pieces(&[b"abd"]), &good, &declared(10))
            .await
            .unwrap_err();
        assert_eq!(e.code, "XAmzContentSHA256Mismatch");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    /// API_PutObject.html: Content-MD5 that does not match is BadDigest.
    #[tokio::test]
    async fn content_md5_is_checked() {
        let md5 = |d: &[u8]| -> Vec<u8> { Md5::digest(d).to_vec() };
        let ok = Declared {
            content_md5: Some(md5(b"abc")),
            ..declared(10)
        };
        assert!(
            take(pieces(&[b"abc"]), &Payload::Unsigned, &ok)
                .await
                .is_ok()
        );
        let e = take(pieces(&[b"abx"]), &Payload::Unsigned, &ok)
            .await
            .unwrap_err();
        assert_eq!(e.code, "BadDigest");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_at_the_byte_that_crosses_it() {
        assert!(
            take(pieces(&[b"12345"]), &Payload::Unsigned, &declared(5))
                .await
                .is_ok()
        );
        let e = take(pieces(&[b"123", b"456"]), &Payload::Unsigned, &declared(5))
            .await
            .unwrap_err();
        assert_eq!(e.code, "EntityTooLarge");
    }

    /// A flexible checksum in a header (checking-object-integrity.html).
    #[tokio::test]
    async fn a_header_checksum_is_verified_and_returned() {
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(b"abc");
        let want = h.finish();
        let d = Declared {
            checksum: Some((Algorithm::Crc32, Some(want.clone()))),
            ..declared(10)
        };
        let mut out = Vec::new();
        let r = receive(pieces(&[b"abc"]), &Payload::Unsigned, &d, &mut out)
            .await
            .unwrap();
        assert_eq!(r.checksum, Some((Algorithm::Crc32, want)));
        let e = take(pieces(&[b"abd"]), &Payload::Unsigned, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "BadDigest");
        assert!(e.message.contains("CRC32"), "{}", e.message);
    }

    /// STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked data with the checksum
    /// in the trailer (sigv4-streaming-trailers.html).
    #[tokio::test]
    async fn an_unsigned_chunked_body_with_a_trailer_checksum() {
        let mut h = Hasher::new(Algorithm::Crc32c);
        h.update(b"hello world");
        let sum = h.finish();
        let wire = format!("6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32c:{sum}\r\n\r\n");
        let d = Declared {
            checksum: Some((Algorithm::Crc32c, None)),
            decoded_length: Some(11),
            ..declared(100)
        };
        // Split at every position: a frame boundary never matters.
        for cut in 1..wire.len() {
            let (a, b) = wire.as_bytes().split_at(cut);
            let got = take(pieces(&[a, b]), &Payload::UnsignedChunks, &d).await;
            assert_eq!(got.unwrap(), b"hello world", "cut at {cut}");
        }
        let short = Declared {
            decoded_length: Some(12),
            ..d.clone()
        };
        let e = take(pieces(&[wire.as_bytes()]), &Payload::UnsignedChunks, &short)
            .await
            .unwrap_err();
        assert_eq!(e.code, "IncompleteBody");
        let none = "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
        let e = take(pieces(&[none.as_bytes()]), &Payload::UnsignedChunks, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidRequest");
        let wrong = wire.replace(&sum, "AAAAAA==");
        let e = take(pieces(&[wrong.as_bytes()]), &Payload::UnsignedChunks, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "BadDigest");
    }

    #[tokio::test]
    async fn a_truncated_or_signed_unsigned_chunked_body_is_refused() {
        let d = declared(100);
        let e = take(pieces(&[b"6\r\nhello "]), &Payload::UnsignedChunks, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "IncompleteBody");
        let e = take(pieces(&[b"zz\r\n"]), &Payload::UnsignedChunks, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidRequest");
        let signed = format!("1;chunk-signature={}\r\na\r\n0\r\n\r\n", "0".repeat(64));
        let e = take(pieces(&[signed.as_bytes()]), &Payload::UnsignedChunks, &d)
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidRequest");
    }

    /// A body that stops sending is S3's RequestTimeout after
    /// [`IDLE_TIMEOUT`], not a connection held for ever.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out() {
        let stalled = futures_util::stream::iter([Ok::<_, std::io::Error>(b"ab".to_vec())])
            .chain(futures_util::stream::pending());
        let started = tokio::time::Instant::now();
        let e = take(
            Body::from_stream(stalled),
            &Payload::Unsigned,
            &declared(10),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "RequestTimeout");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(started.elapsed() >= IDLE_TIMEOUT);
    }

    #[test]
    fn payload_header_values() {
        assert!(matches!(
            Payload::from_header(None, None),
            Ok(Payload::Unsigned)
        ));
        assert!(matches!(
            Payload::from_header(Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"), None),
            Ok(Payload::UnsignedChunks)
        ));
        let upper = "A".repeat(64);
        assert!(matches!(
            Payload::from_header(Some(&upper), None),
            Ok(Payload::Sha256(v)) if v == "a".repeat(64)
        ));
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63)] {
            let e = Payload::from_header(Some(bad), None).unwrap_err();
            assert_eq!(e.code, "InvalidArgument", "{bad}");
        }
        // A streaming signature needs the header signature to chain from.
        let e = Payload::from_header(Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), None).unwrap_err();
        assert_eq!(e.code, "InvalidRequest");
    }
}
