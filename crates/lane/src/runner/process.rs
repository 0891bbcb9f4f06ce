//! The job's process: started in its own process group, stopped through that group.

use std::ffi::OsString;
use std::process::Stdio;

use airlock_protocol::ExitStatus;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Starts `command` in a new process group (its pid is the group id), stdin closed, stdout
/// and stderr piped.
pub(crate) fn spawn(command: &[OsString]) -> std::io::Result<(Child, Pid)> {
    let Some((program, args)) = command.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no command given",
        ));
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // If the runner itself dies, the job must not live on unsupervised.
        .kill_on_drop(true)
        .spawn()?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| std::io::Error::other("the started job has no process id"))?;
    Ok((child, Pid::from_raw(pid)))
}

/// Sends `signal` to every process of the group. A group that is already gone is not an
/// error (the job ended between our decision and the signal).
pub fn signal_group(group: Pid, signal: Signal) {
    match killpg(group, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(group = group.as_raw(), %signal, "cannot signal the job's process group: {e}")
        }
    }
}

/// The job's end in protocol terms.
pub(crate) fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        // Unix reports one or the other; should neither be there, say "failed" rather than
        // pretend success.
        (None, None) => ExitStatus::Code(255),
    }
}
