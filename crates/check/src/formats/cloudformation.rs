//! placeholder
use crate::formats::Parsed;
use crate::node::Node;
use crate::source::SourceFile;
pub fn is_template(_doc: &Node) -> bool {
    false
}
pub fn extract(_file: &SourceFile, _doc: &Node) -> Parsed {
    Parsed::default()
}
