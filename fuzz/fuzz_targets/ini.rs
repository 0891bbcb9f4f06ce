//! Feeds arbitrary text to the front end that reads `.aws/config` files, through the whole scan
//! (parse, extract, rules, suppressions). Any panic is a bug.
#![no_main]

use airlock_check::{ScanOptions, SourceFile, scan_sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let options = ScanOptions {
            inline_suppressions: true,
            ..ScanOptions::default()
        };
        let _ = scan_sources(&[SourceFile::new(".aws/config", text)], &options);
    }
});
