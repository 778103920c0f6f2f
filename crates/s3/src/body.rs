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
    while let Some(frame) = body.frame().await {
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
