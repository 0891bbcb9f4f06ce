//! placeholder
use crate::finding::ScanError;
use crate::node::Node;
use crate::source::SourceFile;
pub fn load(_file: &SourceFile) -> Result<Vec<Node>, ScanError> {
    Ok(vec![])
}
