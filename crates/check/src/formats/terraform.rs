//! placeholder
use crate::formats::Parsed;
use crate::source::SourceFile;
pub fn parse(_file: &SourceFile) -> Parsed {
    Parsed::default()
}
pub fn parse_json(_file: &SourceFile) -> Parsed {
    Parsed::default()
}
