use crate::rules::Rule;

pub static RULES: &[&dyn Rule] = &[];
