//! The `aws-chunked` content encoding, decoded incrementally: a body of
//! chunks `HEX-SIZE[;chunk-signature=SIG]\r\nDATA\r\n`, ended by a chunk of
//! size 0, then trailing headers (`x-amz-checksum-crc32:…`) and an empty line.
//! References: S3 "Transferring payload in multiple chunks" (sigv4-streaming.html)
//! and "Signature calculation: Including trailing headers" (sigv4-streaming-trailers.html).
//!
//! Pure: bytes in, pieces out; the caller checks signatures and checksums.

/// Longest chunk header or trailer line accepted.
pub const MAX_LINE: usize = 4096;
/// Most trailing headers accepted.
pub const MAX_TRAILERS: usize = 8;

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A chunk starts: its size and, for signed bodies, its signature.
    Chunk {
        /// Bytes of data.
        size: u64,
        /// `chunk-signature`, when present.
        signature: Option<String>,
    },
    /// Data of the current chunk.
    Data(&'a [u8]),
    /// The current chunk's data ended.
    ChunkEnd,
    /// The trailing headers (lowercased names), after the last chunk.
    Trailers(Vec<(String, String)>),
    /// The body ended.
    End,
}

/// Why a body is not valid `aws-chunked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    Trailers,
    Ending,
    Done,
}

/// An incremental decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    line: Vec<u8>,
    trailers: Vec<(String, String)>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder at the start of a body.
    pub fn new() -> Decoder {
        Decoder {
            state: State::Header,
            line: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads a line ending in CRLF into `self.line`; `Ok(true)` when complete.
    fn read_line(&mut self, input: &mut &[u8]) -> Result<bool, Malformed> {
        while let Some((&b, rest)) = input.split_first() {
            *input = rest;
            if b == b'\n' {
                if self.line.last() != Some(&b'\r') {
                    return Err(Malformed("a line must end with CRLF"));
                }
                self.line.pop();
                return Ok(true);
            }
            if self.line.len() >= MAX_LINE {
                return Err(Malformed("a chunk header or trailer line is too long"));
            }
            self.line.push(b);
        }
        Ok(false)
    }

    /// The next piece from `input` (advanced past what was used); `None`
    /// when `input` is used up before a piece is complete.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Piece<'a>>, Malformed> {
        loop {
            match self.state {
                State::Done => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    return Err(Malformed("data after the end of the chunked body"));
                }
                State::Ending => {
                    self.state = State::Done;
                    return Ok(Some(Piece::End));
                }
                State::Header => {
                    if !self.read_line(input)? {
                        return Ok(None);
                    }
                    let (size, signature) = parse_header(&self.line)?;
                    self.line.clear();
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                    return Ok(Some(Piece::Chunk { size, signature }));
                }
                State::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let (data, rest) = input.split_at(take);
                    *input = rest;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Some(Piece::Data(data)));
                }
                State::DataEnd => {
                    if !self.read_line(input)? {
                        return Ok(None);
                    }
                    if !self.line.is_empty() {
                        return Err(Malformed("chunk data is longer than its declared size"));
                    }
                    self.state = State::Header;
                    return Ok(Some(Piece::ChunkEnd));
                }
                State::Trailers => {
                    if !self.read_line(input)? {
                        return Ok(None);
                    }
                    if self.line.is_empty() {
                        let trailers = std::mem::take(&mut self.trailers);
                        if trailers.is_empty() {
                            self.state = State::Done;
                            return Ok(Some(Piece::End));
                        }
                        // End follows on the next call.
                        self.state = State::Ending;
                        return Ok(Some(Piece::Trailers(trailers)));
                    }
                    if self.trailers.len() >= MAX_TRAILERS {
                        return Err(Malformed("too many trailing headers"));
                    }
                    let line = std::str::from_utf8(&self.line)
                        .map_err(|_| Malformed("a trailing header is not UTF-8"))?;
                    let (name, value) = line
                        .split_once(':')
                        .ok_or(Malformed("a trailing header has no ':'"))?;
                    self.trailers
                        .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    self.line.clear();
                }
            }
        }
    }
}

/// `HEX-SIZE[;chunk-signature=SIG]`.
fn parse_header(line: &[u8]) -> Result<(u64, Option<String>), Malformed> {
    let line = std::str::from_utf8(line).map_err(|_| Malformed("a chunk header is not ASCII"))?;
    let (size, ext) = match line.split_once(';') {
        Some((s, e)) => (s, Some(e)),
        None => (line, None),
    };
    if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Malformed("a chunk size is not hexadecimal"));
    }
    let size =
        u64::from_str_radix(size, 16).map_err(|_| Malformed("a chunk size is not hexadecimal"))?;
    let signature = match ext {
        None => None,
        Some(e) => {
            let sig = e
                .strip_prefix("chunk-signature=")
                .ok_or(Malformed("a chunk extension is not chunk-signature"))?;
            if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Malformed("a chunk signature is not 64 hex digits"));
            }
            Some(sig.to_ascii_lowercase())
        }
    };
    Ok((size, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `body` fed in pieces of `step` bytes; returns the data and
    /// what else was found.
    fn decode(body: &[u8], step: usize) -> Result<(Vec<u8>, Vec<String>, bool), Malformed> {
        let mut d = Decoder::new();
        let mut data = Vec::new();
        let mut seen = Vec::new();
        for part in body.chunks(step.max(1)) {
            let mut input = part;
            while let Some(p) = d.next(&mut input)? {
                match p {
                    Piece::Data(b) => data.extend_from_slice(b),
                    Piece::Chunk { size, signature } => {
                        seen.push(format!(
                            "chunk {size} {}",
                            signature.unwrap_or_default().len()
                        ));
                    }
                    Piece::ChunkEnd => seen.push("end-of-chunk".into()),
                    Piece::Trailers(t) => seen.push(format!("{t:?}")),
                    Piece::End => seen.push("end".into()),
                }
            }
        }
        Ok((data, seen, d.is_done()))
    }

    const SIG: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";

    #[test]
    fn signed_bodies_in_any_split() {
        let body = format!(
            "5;chunk-signature={SIG}\r\nhello\r\n1;chunk-signature={SIG}\r\n!\r\n0;chunk-signature={SIG}\r\n\r\n"
        );
        for step in [1, 2, 3, 7, 64, 1000] {
            let (data, seen, done) = decode(body.as_bytes(), step).unwrap();
            assert_eq!(data, b"hello!");
            assert!(done);
            assert_eq!(
                seen,
                [
                    "chunk 5 64",
                    "end-of-chunk",
                    "chunk 1 64",
                    "end-of-chunk",
                    "chunk 0 64",
                    "end"
                ]
            );
        }
    }

    #[test]
    fn unsigned_bodies_with_trailers() {
        let body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
        for step in [1, 5, 100] {
            let (data, seen, done) = decode(body, step).unwrap();
            assert_eq!(data, b"abc");
            assert!(done);
            assert_eq!(
                seen,
                [
                    "chunk 3 0",
                    "end-of-chunk",
                    "chunk 0 0",
                    "[(\"x-amz-checksum-crc32\", \"NSRBwg==\")]",
                    "end"
                ]
            );
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let bad: [&[u8]; 11] = [
            b"zz\r\n",
            b"\r\n",
            b"5\nhello\r\n",
            b"3\r\nabcd\r\n0\r\n\r\n",
            b"3;chunk-signature=abc\r\nabc\r\n",
            b"3;other=1\r\nabc\r\n",
            b"11111111111111111\r\n",
            b"0\r\nno-colon\r\n\r\n",
            b"0\r\n\r\nextra",
            b"0\r\n\xff:x\r\n\r\n",
            b"3\r\nabc\r\n0\r\na:1\r\nb:1\r\nc:1\r\nd:1\r\ne:1\r\nf:1\r\ng:1\r\nh:1\r\ni:1\r\n\r\n",
        ];
        for body in bad {
            assert!(
                decode(body, 1000).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let long = format!("{}\r\n", "1".repeat(MAX_LINE + 1));
        assert!(decode(long.as_bytes(), 10).is_err());
    }

    #[test]
    fn truncated_bodies_never_end() {
        let body = b"5\r\nhello\r\n0\r\n\r\n";
        for cut in 0..body.len() {
            let (_, _, done) = decode(body.get(..cut).unwrap(), 3).unwrap();
            assert!(!done, "cut at {cut}");
        }
    }
}
