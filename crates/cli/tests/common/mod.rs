//! Helpers shared by the `airlock check` tests: a scratch directory and a way to run the
//! binary in it.
#![allow(dead_code)] // Each test file uses a different subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("airlock-cli-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    /// Writes `text` to `relative`, creating directories.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path.join(relative)).expect("read file")
    }

    /// Runs `airlock` with `args` in this directory.
    pub fn airlock(&self, args: &[&str]) -> Output {
        airlock_in(&self.path, args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn airlock_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_LOG")
        .env_remove("AIRLOCK_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .output()
        .expect("run airlock")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Small files with well-known mistakes, one per format, named as the front ends expect.
pub const INSECURE_FIXTURES: &[(&str, &str)] = &[
    (
        "docker/Dockerfile",
        "FROM ubuntu:22.04\nRUN apt-get update && apt-get install -y curl\nCMD [\"curl\", \"--version\"]\n",
    ),
    (
        "terraform/main.tf",
        r#"resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"#,
    ),
    (
        "cfn/template.yaml",
        r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WebSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 3389
          ToPort: 3389
          CidrIp: 0.0.0.0/0
"#,
    ),
    (
        "k8s/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:latest
          securityContext:
            privileged: true
"#,
    ),
    (
        "ecs/taskdef.json",
        r#"{
  "family": "web",
  "containerDefinitions": [
    {"name": "web", "image": "nginx:1.27", "privileged": true, "essential": true}
  ]
}
"#,
    ),
    (
        "iam/policy.json",
        r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}
"#,
    ),
];

/// Runs `sh -c script` directly: what the deploy lane must reproduce. Returns stdout, stderr
/// and the exit code as a shell reports it (128 + N for signal N).
pub fn run_directly(script: &str) -> (Vec<u8>, Vec<u8>, i32) {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the job directly");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().expect("exit code or signal"));
    (out.stdout, out.stderr, code)
}
