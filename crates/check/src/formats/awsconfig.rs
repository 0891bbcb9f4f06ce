//! placeholder
use crate::formats::Parsed;
use crate::source::SourceFile;
pub fn is_aws_config(_file: &SourceFile) -> bool {
    false
}
pub fn parse(_file: &SourceFile) -> Parsed {
    Parsed::default()
}
