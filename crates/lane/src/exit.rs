//! Exit codes of `airlock deploy`.
//!
//! When the deployment finished, `airlock deploy` exits with the job's own code, so a CI step
//! passes or fails exactly as the job did. Everything else that can happen has its own code at
//! the top of the range, where jobs rarely exit on purpose. A job that itself exits with one of
//! these codes is indistinguishable from the lane's outcome by code alone; the follower's last
//! stderr line says which it was.

/// The deployment finished and the job exited 0.
pub const SUCCESS: i32 = 0;

/// Bad usage or configuration: a malformed `--param`, an unpinned `--image`, a missing
/// `topic_arn`, or a lane that refuses us for good (no such queue or topic, access denied).
/// Nothing ran, or the follower could not even start following.
pub const USAGE: i32 = 2;

/// The dispatcher rejected the request (bad signature, expired, replayed, unknown job, bad
/// parameters, lane busy, …). Nothing ran.
pub const REJECTED: i32 = 251;

/// Nothing was heard from the deployment for the watchdog period. The job may still be
/// running; its outcome is unknown to CI.
pub const LOST_CONTACT: i32 = 252;

/// The job ran past its deadline and the runner stopped it.
pub const TIMED_OUT: i32 = 253;

/// `airlock deploy` got SIGINT or SIGTERM and asked the lane to cancel the deployment.
pub const CANCELLED: i32 = 254;

/// ECS stopped the task before the runner reported how the job ended (image pull failure,
/// out of memory, StopTask from someone else, …).
pub const TASK_STOPPED: i32 = 255;

/// The exit code for a job's own code: codes a process cannot exit with (negative, above 255)
/// become 1, so a failure never wraps around to success (256 would otherwise exit 0).
pub fn job_code(code: i32) -> i32 {
    if (0..=255).contains(&code) { code } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_codes_outside_a_byte_never_become_success() {
        assert_eq!(job_code(0), 0);
        assert_eq!(job_code(42), 42);
        assert_eq!(job_code(255), 255);
        assert_eq!(job_code(256), 1);
        assert_eq!(job_code(-1), 1);
    }
}
