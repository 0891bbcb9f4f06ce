//! Exit codes shared by every command. docs/usage.md#exit-codes documents them; keep the two in step.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `check`, nothing at or above the severity threshold.
    Ok,
    /// `check` found something at or above the threshold.
    Findings,
    /// Bad usage, bad configuration, or input that could not be parsed.
    Usage,
    /// The command is not in this build (the scanner-only build has no lane and no AWS SDK).
    #[cfg_attr(feature = "aws", allow(dead_code))]
    NotBuilt,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Usage => 2,
            Exit::NotBuilt => 6,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}
