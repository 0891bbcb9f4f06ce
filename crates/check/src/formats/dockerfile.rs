//! placeholder
use crate::formats::Parsed;
use crate::source::SourceFile;
pub fn is_dockerfile_name(_name: &str) -> bool {
    false
}
pub fn is_dockerfile_content(_text: &str) -> bool {
    false
}
pub fn parse(_file: &SourceFile) -> Parsed {
    Parsed::default()
}
