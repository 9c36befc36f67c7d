//! Reading `\n`-terminated lines with a length cap, shared by the QMP client and the
//! guest agent client (both speak line-delimited JSON over a Unix socket).

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line as read by [`read_capped`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The bytes of a complete line, its `\n` included.
    Whole(Vec<u8>),
    /// A line longer than the cap: it was consumed up to its `\n` but not kept (the
    /// stream stays framed and memory stays bounded). Carries the bytes seen.
    TooLong(usize),
    /// End of stream (a partial last line is dropped).
    Eof,
}

/// Reads one line, keeping at most `max` bytes of it. A longer line is read to its
/// end and discarded, so whatever follows it is still parsed from a line start.
pub async fn read_capped<R: AsyncBufRead + Unpin>(rd: &mut R, max: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    loop {
        let chunk = rd.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(Line::Eof);
        }
        let (used, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        seen = seen.saturating_add(used);
        if seen <= max {
            buf.extend_from_slice(&chunk[..used]);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
        rd.consume(used);
        if done {
            return Ok(if seen <= max { Line::Whole(buf) } else { Line::TooLong(seen) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max: usize) -> Vec<Line> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            // A tiny buffer so lines span several fills.
            let mut rd = tokio::io::BufReader::with_capacity(3, input);
            let mut out = Vec::new();
            loop {
                let l = read_capped(&mut rd, max).await.unwrap();
                let end = l == Line::Eof;
                out.push(l);
                if end {
                    return out;
                }
            }
        })
    }

    #[test]
    fn long_lines_are_skipped_whole_and_framing_survives() {
        let got = read_all(b"ab\n0123456789\ncd\npartial", 5);
        assert_eq!(got, vec![Line::Whole(b"ab\n".to_vec()), Line::TooLong(11), Line::Whole(b"cd\n".to_vec()), Line::Eof]);
    }
}
