//! placeholder
use crate::model::Fact;
use crate::source::SourceFile;
pub fn detect(_file: &SourceFile) -> Option<Fact> {
    None
}
