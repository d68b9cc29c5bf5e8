//! Reading a body for capture without changing what its reader sees: the first bytes up to the cap, then
//! the rest (or the error) given back where it happened.

use std::io::{self, Cursor, Read};

/// How reading the first `max + 1` bytes of a body ended.
#[derive(Debug)]
pub(super) enum Ending {
    /// The whole body, within the cap.
    Complete,
    /// The cap was passed: more may follow.
    OverCap,
    /// The source failed after the bytes read.
    Failed(io::Error),
}

/// Reads up to `max + 1` bytes of `source`.
pub(super) fn read_head(source: &mut impl Read, max: usize) -> (Vec<u8>, Ending) {
    let mut head = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match source.take(limit).read_to_end(&mut head) {
        Ok(_) if head.len() <= max => (head, Ending::Complete),
        Ok(_) => (head, Ending::OverCap),
        Err(error) => (head, Ending::Failed(error)),
    }
}

/// A body read in part, given back whole: the bytes already read, then the error that stopped the
/// read (once, where it happened), then the rest of the source.
pub(super) struct Replay<R> {
    head: Cursor<Vec<u8>>,
    error: Option<io::Error>,
    rest: R,
}

impl<R> Replay<R> {
    pub(super) fn new(head: Vec<u8>, ending: Ending, rest: R) -> Self {
        let error = match ending {
            Ending::Failed(error) => Some(error),
            Ending::Complete | Ending::OverCap => None,
        };
        Replay {
            head: Cursor::new(head),
            error,
            rest,
        }
    }
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.rest.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_head_says_how_the_read_ended() {
        let (head, ending) = read_head(&mut &b"abc"[..], 3);
        assert_eq!(
            (head.as_slice(), matches!(ending, Ending::Complete)),
            (&b"abc"[..], true)
        );
        let (head, ending) = read_head(&mut &b"abcd"[..], 3);
        assert_eq!(
            (head.as_slice(), matches!(ending, Ending::OverCap)),
            (&b"abcd"[..], true)
        );
    }

    /// Two bytes, then an error, then two more bytes.
    struct Flaky(u8);
    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            match self.0 {
                1 => {
                    buf[..2].copy_from_slice(b"ab");
                    Ok(2)
                }
                2 => Err(io::Error::other("flaky")),
                3 => {
                    buf[..2].copy_from_slice(b"cd");
                    Ok(2)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn replay_gives_the_bytes_then_the_error_where_it_happened_then_the_rest() {
        let mut source = Flaky(0);
        let (head, ending) = read_head(&mut source, 100);
        assert!(matches!(ending, Ending::Failed(_)));
        let mut replay = Replay::new(head, ending, source);
        let mut out = Vec::new();
        let first = replay.read_to_end(&mut out);
        assert_eq!(
            (out.as_slice(), first.map_err(|e| e.to_string())),
            (&b"ab"[..], Err("flaky".to_owned()))
        );
        let mut rest = Vec::new();
        assert_eq!(replay.read_to_end(&mut rest).ok(), Some(2));
        assert_eq!(rest, b"cd");
    }
}
