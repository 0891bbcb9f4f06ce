//! placeholder
use crate::formats::Parsed;
use crate::node::Node;
use crate::source::SourceFile;
pub fn is_manifest(_doc: &Node) -> bool {
    false
}
pub fn extract(_file: &SourceFile, _docs: &[Node]) -> Parsed {
    Parsed::default()
}
