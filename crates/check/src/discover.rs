//! Finding the files to scan: the `ignore` crate walks the paths in parallel-friendly order,
//! honouring `.gitignore`, `.ignore` and the configuration's excludes.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use crate::config::Config;
use crate::finding::ScanError;
use crate::formats::{Candidate, candidate};
use crate::source::SourceFile;

/// Files larger than this are not infrastructure code; they are skipped unread.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Directories that hold generated or downloaded code, never the user's own.
const SKIPPED_DIRS: [&str; 4] = [".git", ".terraform", "node_modules", ".venv"];

#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<PathBuf>,
    pub errors: Vec<ScanError>,
}

pub fn walk(paths: &[PathBuf], config: &Config) -> Discovered {
    let mut out = Discovered::default();
    for root in paths {
        if !root.exists() {
            out.errors.push(ScanError {
                file: display(root),
                line: 0,
                message: "no such file or directory".into(),
            });
            continue;
        }
        let mut builder = WalkBuilder::new(root);
        builder
            .hidden(false)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|entry| {
                let name = entry.file_name().to_string_lossy();
                !(entry.file_type().is_some_and(|t| t.is_dir())
                    && SKIPPED_DIRS.contains(&name.as_ref()))
            });
        if !config.excludes().is_empty() {
            let mut overrides = OverrideBuilder::new(root);
            for pattern in config.excludes() {
                if let Err(e) = overrides.add(&format!("!{pattern}")) {
                    out.errors.push(ScanError {
                        file: "airlock.toml".into(),
                        line: 0,
                        message: format!("exclude pattern {pattern:?}: {e}"),
                    });
                }
            }
            match overrides.build() {
                Ok(o) => {
                    builder.overrides(o);
                }
                Err(e) => out.errors.push(ScanError {
                    file: "airlock.toml".into(),
                    line: 0,
                    message: format!("exclude patterns: {e}"),
                }),
            }
        }
        for entry in builder.build() {
            match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    out.files.push(entry.into_path());
                }
                Ok(_) => {}
                Err(e) => out.errors.push(ScanError {
                    file: display(root),
                    line: 0,
                    message: e.to_string(),
                }),
            }
        }
    }
    out.files.sort();
    out.files.dedup();
    out
}

/// Reads a file for scanning. `Ok(None)`: not text, too large, or of no kind we read.
/// A file whose name says it is ours but cannot be read as UTF-8 text is an error.
pub fn read(path: &Path) -> Result<Option<SourceFile>, ScanError> {
    let shown = display(path);
    let ours = candidate(&shown) != Candidate::Other;
    let error = |message: String| ScanError {
        file: shown.clone(),
        line: 0,
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| error(e.to_string()))?
        .len();
    if size > MAX_FILE_BYTES {
        return if ours {
            Err(error(format!(
                "file is {size} bytes; files over {MAX_FILE_BYTES} are not scanned"
            )))
        } else {
            Ok(None)
        };
    }
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    if bytes.contains(&0) {
        return Ok(None);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(SourceFile::new(shown.as_str(), text))),
        Err(e) if ours => Err(error(format!("not UTF-8 text: {}", e.utf8_error()))),
        Err(_) => Ok(None),
    }
}

/// Paths are shown as given, with `/` separators and no leading `./`.
pub fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
