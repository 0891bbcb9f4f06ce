//! The packaged dispatcher starts on Lambda's `provided.al2023` runtime: its `bootstrap` asks
//! for no glibc symbol version newer than Amazon Linux 2023's glibc, 2.34. A newer one makes
//! the function fail at its first cold start, long after the build looked fine.
//!
//! The zip is the one `scripts/package-dispatcher.sh` writes (path from AIRLOCK_DISPATCH_ZIP,
//! default dist/airlock-dispatch-VERSION-provided-al2023-x86_64.zip). When it is missing the
//! test says SKIPPED, except in CI (CI=true), where the script runs first and a missing zip is
//! a failure.

use std::io::Read;
use std::path::PathBuf;

use object::elf::{EM_AARCH64, EM_X86_64, FileHeader64, Machine};
use object::read::elf::FileHeader;
use object::{Endianness, FileKind};

/// Amazon Linux 2023's glibc.
const AL2023_GLIBC: &str = "2.34";

/// A glibc symbol version such as `2.2.5`, compared part by part as numbers: 2.9 < 2.34.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GlibcVersion(Vec<u32>);

impl GlibcVersion {
    /// `2.34`, `2.2.5`; trailing zero parts do not count (2.34.0 is 2.34).
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                part.parse::<u32>().ok()
            })
            .collect::<Option<Vec<_>>>()?;
        while parts.len() > 1 && parts.last() == Some(&0) {
            parts.pop();
        }
        Some(GlibcVersion(parts))
    }
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// One entry of the ELF version needs (`.gnu.version_r`): a library and a version of it.
#[derive(Debug)]
struct VersionNeed {
    file: String,
    name: String,
}

/// What the bootstrap asks of glibc, or why it cannot run on AL2023.
#[derive(Debug, Default)]
struct GlibcNeeds {
    highest: Option<GlibcVersion>,
    /// GLIBC_ names that are not versions (GLIBC_PRIVATE, GLIBC_ABI_DT_RELR from glibc 2.36):
    /// each one is a dependency that a given glibc may not satisfy.
    not_versions: Vec<String>,
}

fn glibc_needs(needs: &[VersionNeed]) -> GlibcNeeds {
    let mut result = GlibcNeeds::default();
    for need in needs {
        let Some(version) = need.name.strip_prefix("GLIBC_") else {
            continue;
        };
        match GlibcVersion::parse(version) {
            Some(version) => {
                if result
                    .highest
                    .as_ref()
                    .is_none_or(|highest| version > *highest)
                {
                    result.highest = Some(version);
                }
            }
            None => result
                .not_versions
                .push(format!("{} from {}", need.name, need.file)),
        }
    }
    result
}

/// The version needs of a 64-bit ELF file, and its machine (`e_machine`).
fn version_needs(elf: &[u8]) -> Result<(Machine, Vec<VersionNeed>), String> {
    match FileKind::parse(elf) {
        Ok(FileKind::Elf64) => {}
        Ok(kind) => return Err(format!("not a 64-bit ELF file but {kind:?}")),
        Err(e) => return Err(format!("not an object file: {e}")),
    }
    let header = FileHeader64::<Endianness>::parse(elf).map_err(|e| format!("ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("ELF header: {e}"))?;
    let sections = header
        .sections(endian, elf)
        .map_err(|e| format!("ELF section headers: {e}"))?;
    let Some((mut needs, strings_index)) = sections
        .gnu_verneed(endian, elf)
        .map_err(|e| format!(".gnu.version_r: {e}"))?
    else {
        return Err("no .gnu.version_r section: a static binary or not a glibc one".into());
    };
    let strings = sections
        .strings(endian, elf, strings_index)
        .map_err(|e| format!("the string table of .gnu.version_r: {e}"))?;
    let mut result = Vec::new();
    while let Some((need, mut entries)) = needs.next().map_err(|e| format!("verneed: {e}"))? {
        let file = need
            .file(endian, strings)
            .map_err(|e| format!("verneed file name: {e}"))?;
        let file = String::from_utf8_lossy(file).into_owned();
        while let Some(entry) = entries.next().map_err(|e| format!("vernaux: {e}"))? {
            let name = entry
                .name(endian, strings)
                .map_err(|e| format!("vernaux name in {file}: {e}"))?;
            result.push(VersionNeed {
                file: file.clone(),
                name: String::from_utf8_lossy(name).into_owned(),
            });
        }
    }
    Ok((header.e_machine.get(endian), result))
}

fn dispatch_zip() -> PathBuf {
    if let Some(path) = std::env::var_os("AIRLOCK_DISPATCH_ZIP") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dist")
        .join(format!(
            "airlock-dispatch-{}-provided-al2023-x86_64.zip",
            env!("CARGO_PKG_VERSION")
        ))
}

/// The `bootstrap` entry of the zip and its Unix mode.
fn bootstrap_from_zip(path: &std::path::Path) -> Result<(Vec<u8>, Option<u32>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if names != ["bootstrap"] {
        return Err(format!(
            "{}: Lambda's custom runtime wants exactly one file, `bootstrap`; the zip holds {names:?}",
            path.display()
        ));
    }
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|e| format!("{}: bootstrap: {e}", path.display()))?;
    let mode = entry.unix_mode();
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: bootstrap: {e}", path.display()))?;
    Ok((bytes, mode))
}

#[test]
fn the_packaged_bootstrap_needs_no_glibc_newer_than_al2023s() {
    let zip_path = dispatch_zip();
    if !zip_path.exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{} is missing; CI runs scripts/package-dispatcher.sh before the tests",
            zip_path.display()
        );
        eprintln!(
            "SKIPPED: {} is missing (build it with scripts/package-dispatcher.sh)",
            zip_path.display()
        );
        return;
    }
    let (bootstrap, mode) = bootstrap_from_zip(&zip_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        mode.map(|m| m & 0o111),
        Some(0o111),
        "{}: bootstrap must be executable (mode {mode:?})",
        zip_path.display()
    );
    let (machine, needs) = version_needs(&bootstrap)
        .unwrap_or_else(|e| panic!("{}: bootstrap: {e}", zip_path.display()));
    let file_name = zip_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let expected_machine = if file_name
        .as_deref()
        .is_some_and(|n| n.ends_with("-arm64.zip"))
    {
        EM_AARCH64
    } else {
        EM_X86_64
    };
    assert_eq!(
        machine,
        expected_machine,
        "{}: bootstrap is for the wrong machine",
        zip_path.display()
    );

    let glibc = glibc_needs(&needs);
    assert!(
        glibc.not_versions.is_empty(),
        "{}: bootstrap needs {:?}, which AL2023's glibc {AL2023_GLIBC} may not have",
        zip_path.display(),
        glibc.not_versions
    );
    let limit = GlibcVersion::parse(AL2023_GLIBC).expect("the limit is a version");
    let highest = glibc
        .highest
        .unwrap_or_else(|| panic!("{}: bootstrap names no GLIBC_ version", zip_path.display()));
    assert!(
        highest <= limit,
        "{}: bootstrap needs GLIBC_{highest}, but provided.al2023 has glibc {limit}",
        zip_path.display()
    );
    eprintln!(
        "{}: {} bytes; bootstrap {} bytes, needs GLIBC_{highest} at most",
        zip_path.display(),
        std::fs::metadata(&zip_path).map_or(0, |m| m.len()),
        bootstrap.len()
    );
}

#[test]
fn versions_compare_as_numbers_part_by_part() {
    let v = |s: &str| GlibcVersion::parse(s).expect("a version");
    assert!(v("2.9") < v("2.34"), "2.9 is older than 2.34");
    assert!(v("2.4") < v("2.34"), "2.4 is older than 2.34");
    assert!(v("2.34") > v("2.4"));
    assert!(v("2.2.5") < v("2.3"));
    assert!(v("2.35") > v("2.34"));
    assert!(v("3.0") > v("2.99"));
    assert_eq!(v("2.34.0"), v("2.34"));
    assert_eq!(v("2.34").to_string(), "2.34");
}

#[test]
fn names_that_are_not_versions_do_not_parse() {
    for text in [
        "PRIVATE",
        "ABI_DT_RELR",
        "",
        "2.",
        ".34",
        "2..34",
        "2.34a",
        "-2.34",
        "+2",
    ] {
        assert_eq!(GlibcVersion::parse(text), None, "{text:?}");
    }
}

#[test]
fn the_highest_glibc_version_wins_and_other_libraries_do_not_count() {
    let need = |file: &str, name: &str| VersionNeed {
        file: file.into(),
        name: name.into(),
    };
    let needs = [
        need("libc.so.6", "GLIBC_2.2.5"),
        need("libc.so.6", "GLIBC_2.34"),
        need("libc.so.6", "GLIBC_2.9"),
        need("libm.so.6", "GLIBC_2.29"),
        need("libgcc_s.so.1", "GCC_4.2.0"),
        need("libc.so.6", "GLIBC_2.4"),
    ];
    let glibc = glibc_needs(&needs);
    assert_eq!(glibc.highest, GlibcVersion::parse("2.34"));
    assert!(glibc.not_versions.is_empty());

    let relr = glibc_needs(&[
        need("libc.so.6", "GLIBC_2.17"),
        need("libc.so.6", "GLIBC_ABI_DT_RELR"),
    ]);
    assert_eq!(relr.highest, GlibcVersion::parse("2.17"));
    assert_eq!(relr.not_versions, ["GLIBC_ABI_DT_RELR from libc.so.6"]);
}

#[test]
fn the_elf_reader_finds_the_glibc_needs_of_a_real_binary() {
    // This test binary itself links glibc dynamically: its needs must include a GLIBC_2.x,
    // which proves the reader walks .gnu.version_r rather than finding nothing.
    let exe = std::env::current_exe().expect("the test binary's path");
    let bytes = std::fs::read(&exe).expect("read the test binary");
    let (machine, needs) = version_needs(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        machine,
        if cfg!(target_arch = "aarch64") {
            EM_AARCH64
        } else {
            EM_X86_64
        }
    );
    assert!(
        needs
            .iter()
            .any(|n| n.file.starts_with("libc.so") && n.name.starts_with("GLIBC_2.")),
        "{needs:?}"
    );
    assert!(glibc_needs(&needs).highest.is_some());
}

#[test]
fn a_file_that_is_not_elf_is_refused_with_a_reason() {
    let err = version_needs(b"#!/bin/sh\necho not a binary\n").expect_err("not ELF");
    assert!(err.contains("not"), "{err}");
}
