//! The runner's own copy of the output: in the deployment task it goes to the container's log
//! (CloudWatch Logs through the `awslogs` driver), so the production account keeps the full
//! record of every deployment whatever happens to CI.
//!
//! `awslogs` turns every line of the container's stdout and stderr into a log event and keeps
//! nothing of which stream it came from, so [`TaggedEcho`] (the default of `airlock run`)
//! writes both streams to one writer and starts each line with its stream's tag. Lines are
//! written in the order the runner read them, already masked.

use std::io::Write;

use airlock_protocol::Stream;

use super::Echo;

/// Starts each line of the job's stdout.
pub const STDOUT_TAG: &[u8] = b"[out] ";
/// Starts each line of the job's stderr.
pub const STDERR_TAG: &[u8] = b"[err] ";
/// Starts each of the runner's own lines (the request id, how the job ended).
pub const NOTE_TAG: &[u8] = b"[airlock] ";

/// Both streams to one writer, each line tagged with its stream.
#[derive(Debug)]
pub struct TaggedEcho<W> {
    writer: W,
    /// The stream whose line is not finished yet. When the other stream writes before it is,
    /// the unfinished line is ended there, so every line keeps one tag.
    open_line: Option<Stream>,
}

impl<W: Write> TaggedEcho<W> {
    pub fn new(writer: W) -> TaggedEcho<W> {
        TaggedEcho {
            writer,
            open_line: None,
        }
    }

    pub fn into_inner(self) -> W {
        self.writer
    }

    fn end_open_line(&mut self, buf: &mut Vec<u8>) {
        if self.open_line.take().is_some() {
            buf.push(b'\n');
        }
    }
}

fn tag(stream: Stream) -> &'static [u8] {
    match stream {
        Stream::Stdout => STDOUT_TAG,
        Stream::Stderr => STDERR_TAG,
    }
}

impl<W: Write + Send> Echo for TaggedEcho<W> {
    fn echo(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(bytes.len() + 2 * STDOUT_TAG.len());
        if self.open_line.is_some_and(|open| open != stream) {
            self.end_open_line(&mut buf);
        }
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            if self.open_line.is_none() {
                buf.extend_from_slice(tag(stream));
            }
            buf.extend_from_slice(piece);
            self.open_line = (piece.last() != Some(&b'\n')).then_some(stream);
        }
        self.writer.write_all(&buf)?;
        self.writer.flush()
    }

    fn note(&mut self, text: &str) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(text.len() + NOTE_TAG.len() + 2);
        self.end_open_line(&mut buf);
        buf.extend_from_slice(NOTE_TAG);
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        self.writer.write_all(&buf)?;
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echoed(writes: &[(Stream, &str)]) -> String {
        let mut echo = TaggedEcho::new(Vec::new());
        echo.note("request r-1: started sh").expect("note");
        for (stream, text) in writes {
            echo.echo(*stream, text.as_bytes()).expect("echo");
        }
        echo.note("request r-1: exit code 3").expect("note");
        String::from_utf8(echo.into_inner()).expect("utf-8")
    }

    #[test]
    fn every_line_is_tagged_with_its_stream_in_the_order_written() {
        let got = echoed(&[
            (Stream::Stdout, "one\ntwo\n"),
            (Stream::Stderr, "oops\n"),
            (Stream::Stdout, "three\n"),
        ]);
        assert_eq!(
            got,
            "[airlock] request r-1: started sh\n[out] one\n[out] two\n[err] oops\n[out] three\n\
             [airlock] request r-1: exit code 3\n"
        );
    }

    #[test]
    fn a_line_in_pieces_keeps_one_tag_until_the_other_stream_cuts_in() {
        let got = echoed(&[
            (Stream::Stdout, "progress 1"),
            (Stream::Stdout, "0%\n"),
            (Stream::Stdout, "prompt? "),
            (Stream::Stderr, "warning\n"),
            (Stream::Stdout, "yes\nlast without newline"),
        ]);
        assert_eq!(
            got,
            "[airlock] request r-1: started sh\n[out] progress 10%\n[out] prompt? \n\
             [err] warning\n[out] yes\n[out] last without newline\n\
             [airlock] request r-1: exit code 3\n"
        );
    }
}
