//! S3's flexible checksums ("Checking object integrity",
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>):
//! CRC32, CRC32C, CRC64NVME, SHA1 and SHA256, each sent and returned as the
//! base64 of its big-endian digest, and Content-MD5.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Digest as _;

/// A checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// `CRC32`, … as `x-amz-checksum-algorithm` and `x-amz-sdk-checksum-algorithm` name it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The algorithm a name (any case) stands for.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// `x-amz-checksum-crc32`, …
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// `ChecksumCRC32`, … as response documents name it.
    pub fn element(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
            Algorithm::Sha1 => "ChecksumSHA1",
            Algorithm::Sha256 => "ChecksumSHA256",
        }
    }

    /// The length of the digest in bytes.
    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Whether `value` is the base64 of a digest of this algorithm's length.
    pub fn is_well_formed(self, value: &str) -> bool {
        STANDARD
            .decode(value)
            .is_ok_and(|d| d.len() == self.digest_len())
    }
}

/// A running checksum.
#[derive(Clone)]
pub enum Hasher {
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// CRC-32C.
    Crc32c(u32),
    /// CRC-64/NVME.
    Crc64Nvme(crc64fast_nvme::Digest),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A new checksum of `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Crc64Nvme(d) => d.write(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The checksum, base64 of the big-endian digest.
    pub fn finish(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(d) => d.sum64().to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        STANDARD.encode(bytes)
    }
}

/// Base64 of bytes.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64; `None` when it is not.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running MD5 (the ETag of a simple upload, Content-MD5).
pub type Md5 = md5::Md5;

#[cfg(test)]
mod tests {
    use super::*;

    fn of(a: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(a);
        let (x, y) = data.split_at(data.len() / 2);
        h.update(x);
        h.update(y);
        h.finish()
    }

    /// The standard check values (the digest of "123456789") of each CRC,
    /// and the FIPS 180 "abc" digests, as S3 encodes them (base64 of the
    /// big-endian digest).
    #[test]
    fn digests_match_their_standard_check_values() {
        let crc = |a, want: &[u8]| assert_eq!(of(a, b"123456789"), base64(want), "{a:?}");
        crc(Algorithm::Crc32, &0xCBF4_3926u32.to_be_bytes());
        crc(Algorithm::Crc32c, &0xE306_9283u32.to_be_bytes());
        crc(
            Algorithm::Crc64Nvme,
            &0xAE8B_1486_0A79_9888u64.to_be_bytes(),
        );
        assert_eq!(
            hex(&unbase64(&of(Algorithm::Sha1, b"abc")).unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&unbase64(&of(Algorithm::Sha256, b"abc")).unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // botocore's example: the CRC32 of b"" is "AAAAAA==".
        assert_eq!(of(Algorithm::Crc32, b""), "AAAAAA==");
    }

    #[test]
    fn names_headers_and_shapes() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(&a.name().to_lowercase()), Some(a));
            assert!(a.header().ends_with(&a.name().to_lowercase()));
            assert!(a.element().ends_with(a.name()));
            assert!(a.is_well_formed(&of(a, b"x")));
        }
        assert_eq!(Algorithm::from_name("MD5"), None);
        assert!(!Algorithm::Crc32.is_well_formed("AAAA"));
        assert!(!Algorithm::Crc32.is_well_formed("not base64!"));
        assert!(!Algorithm::Sha256.is_well_formed(&of(Algorithm::Crc32, b"x")));
    }
}
