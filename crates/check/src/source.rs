//! A file's text and its line index.

use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as reported in findings: as the user gave it, with `/` separators.
    pub path: Arc<str>,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<Arc<str>>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// The file name without directories.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// 1-based line of a byte offset (offsets past the end map to the last line).
    pub fn line_of(&self, offset: usize) -> u32 {
        let index = self.line_starts.partition_point(|&start| start <= offset);
        index.max(1) as u32
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text(&self, line: u32) -> &str {
        let Some(&start) = self.line_starts.get((line as usize).wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line as usize)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_exclusive_of_endings() {
        let f = SourceFile::new("a/b.tf", "one\r\ntwo\nthree");
        assert_eq!(f.name(), "b.tf");
        assert_eq!(f.line_of(0), 1);
        assert_eq!(f.line_of(5), 2);
        assert_eq!(f.line_of(9), 3);
        assert_eq!(f.line_of(999), 3);
        assert_eq!(f.line_text(1), "one");
        assert_eq!(f.line_text(3), "three");
        assert_eq!(f.line_text(4), "");
        assert_eq!(f.line_text(0), "");
    }
}
