//! Kubernetes workloads: K8S001..K8S011, over [`Workload`] facts.
//!
//! securityContext inheritance: `runAsUser` and `runAsNonRoot` may be set on the pod and
//! apply to every container (init and ephemeral ones included) that does not set its own;
//! `privileged`, `allowPrivilegeEscalation`, `readOnlyRootFilesystem` and `capabilities`
//! exist only on containers. Init containers run with the pod's privileges, so the security
//! rules check them exactly like regular containers.

use crate::finding::{Finding, Severity};
use crate::model::{Fact, K8sContainer, Known, Span, Workload};
use crate::rules::containers::is_literal_secret;
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &Privileged,
    &PrivilegeEscalation,
    &WritableRootFilesystem,
    &RunsAsRoot,
    &HostNetwork,
    &HostPid,
    &HostIpc,
    &Capabilities,
    &NoReadinessProbe,
    &ImageNotPinned,
    &SecretInEnv,
];

const K8S: &[Format] = &[Format::Kubernetes];

fn workloads(unit: &Unit) -> impl Iterator<Item = &Workload> {
    unit.facts.iter().filter_map(|fact| match fact {
        Fact::Workload(workload) => Some(workload),
        _ => None,
    })
}

fn containers(unit: &Unit) -> impl Iterator<Item = (&Workload, &K8sContainer)> {
    workloads(unit).flat_map(|w| w.containers.iter().map(move |c| (w, c)))
}

/// `container app of Deployment/shop/web`, `init container migrate of …`.
fn describe(workload: &Workload, container: &K8sContainer) -> String {
    let role = match container.role {
        "initContainer" => "init container",
        "ephemeralContainer" => "ephemeral container",
        _ => "container",
    };
    format!("{role} {} of {}", container.name, workload.at.resource)
}

fn finding(meta: &'static RuleMeta, c: &K8sContainer, message: String) -> Finding {
    Finding::new(meta, &c.at, &c.name, message)
}

/// A finding about a securityContext setting points at the securityContext that decides it
/// (`at`), or at the container when none is written.
fn security_finding(
    meta: &'static RuleMeta,
    c: &K8sContainer,
    at: Option<Span>,
    message: String,
) -> Finding {
    let site = at.map_or_else(|| c.at.clone(), |span| c.at.at(span));
    Finding::new(meta, &site, &c.name, message)
}

/// A setting that is present (known or not); the front end never stores `Some(Absent)`, but
/// a hand-built fact might.
fn present<T>(setting: &Option<Known<T>>) -> Option<&Known<T>> {
    setting.as_ref().filter(|k| !k.is_absent())
}

/// Where an inherited setting comes from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Container,
    Pod,
}

impl Level {
    fn describe(self) -> &'static str {
        match self {
            Level::Container => "the container",
            Level::Pod => "the pod",
        }
    }
}

/// A pod-level setting as the container sees it: its own if it sets one, else the pod's.
fn effective<'a, T>(
    container: &'a Option<Known<T>>,
    pod: &'a Option<Known<T>>,
) -> Option<(&'a Known<T>, Level)> {
    present(container)
        .map(|k| (k, Level::Container))
        .or_else(|| present(pod).map(|k| (k, Level::Pod)))
}

fn is_true(setting: &Option<Known<bool>>) -> bool {
    matches!(present(setting), Some(Known::Value(true)))
}

/// A capability name as the kernel knows it: upper case, without the `CAP_` prefix that
/// some manifests write.
fn capability(raw: &str) -> String {
    let upper = raw.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// Capabilities that give a container a way out of its isolation or over the node's network
/// and kernel.
const DANGEROUS_CAPABILITIES: &[&str] = &[
    "ALL",
    "BPF",
    "DAC_READ_SEARCH",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "NET_ADMIN",
    "NET_RAW",
    "PERFMON",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_TIME",
];

// ---------------------------------------------------------------------------------------
// Examples share one hardened Deployment; each rule's examples change what it looks at.

macro_rules! deployment {
    (pod: $pod:expr, container: $container:expr) => {
        concat!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
",
            $pod,
            "      containers:
        - name: web
          ports:
            - containerPort: 8080
",
            $container
        )
    };
}

// `concat!` needs literals, so the hardened parts are repeated as macros.
macro_rules! hardened_pod {
    () => {
        "      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
"
    };
}

macro_rules! probe {
    () => {
        "          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
"
    };
}

macro_rules! image {
    () => {
        "          image: registry.example.com/shop/web:1.4.2
"
    };
}

// ---------------------------------------------------------------------------------------
// K8S001

pub struct Privileged;

static K8S001: RuleMeta = RuleMeta {
    code: "K8S001",
    name: "k8s-privileged",
    severity: Severity::Critical,
    practice: "Kubernetes containers never run privileged.",
    formats: K8S,
    what: "A container, init container or ephemeral container with \
           `securityContext.privileged: true`.",
    why: "A privileged container runs with every capability, without seccomp or AppArmor \
          confinement and with access to all of the node's devices: root in it is root on \
          the node, so one compromised pod owns the node, its kubelet credentials and every \
          other pod scheduled there.",
    fix: "Remove `privileged: true` from the container's securityContext. Grant the one \
          capability the workload really needs with `capabilities.add`, or move node-level \
          work to a dedicated, reviewed DaemonSet in its own namespace.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            privileged: true
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            privileged: false
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
")),
    }],
    checkov: &["CKV_K8S_16"],
};

impl Rule for Privileged {
    fn meta(&self) -> &'static RuleMeta {
        &K8S001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            if is_true(&c.security.privileged) {
                out.push(security_finding(
                    &K8S001,
                    c,
                    c.security.span,
                    format!("{} runs privileged (privileged: true)", describe(w, c)),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S002

pub struct PrivilegeEscalation;

static K8S002: RuleMeta = RuleMeta {
    code: "K8S002",
    name: "k8s-privilege-escalation",
    severity: Severity::High,
    practice: "Kubernetes containers forbid privilege escalation explicitly.",
    formats: K8S,
    what: "A container whose securityContext does not set `allowPrivilegeEscalation: false` \
           (the default is true), or that runs privileged, which always allows escalation.",
    why: "Unless escalation is forbidden, the kernel lets a process in the container gain \
          more privileges than its parent, through setuid binaries such as `su` or `sudo` or \
          file capabilities: a non-root foothold becomes root in the container, one step \
          closer to the node.",
    fix: "Set `allowPrivilegeEscalation: false` in every container's securityContext (it \
          sets the `no_new_privs` flag). It cannot be set at pod level, so set it on init \
          containers too, and do not combine it with `privileged: true`.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
")),
    }],
    checkov: &["CKV_K8S_20"],
};

impl Rule for PrivilegeEscalation {
    fn meta(&self) -> &'static RuleMeta {
        &K8S002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let why = if is_true(&c.security.privileged) {
                "privileged: true always allows it"
            } else {
                match present(&c.security.allow_privilege_escalation) {
                    Some(Known::Value(false)) | Some(Known::Unknown(_)) => continue,
                    Some(_) => "allowPrivilegeEscalation: true",
                    None => "allowPrivilegeEscalation is not set and defaults to true",
                }
            };
            out.push(security_finding(
                &K8S002,
                c,
                c.security.span,
                format!("{} allows privilege escalation ({why})", describe(w, c)),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S003

pub struct WritableRootFilesystem;

static K8S003: RuleMeta = RuleMeta {
    code: "K8S003",
    name: "k8s-writable-root-filesystem",
    severity: Severity::Medium,
    practice: "Kubernetes containers mount their root filesystem read-only.",
    formats: K8S,
    what: "A container whose securityContext does not set `readOnlyRootFilesystem: true` \
           (the root filesystem is writable by default).",
    why: "A writable root filesystem lets an attacker with code execution in the container \
          download tools, modify the application's binaries and configuration, and persist \
          until the pod is replaced; with a read-only root, the image is all the container \
          can run.",
    fix: "Set `readOnlyRootFilesystem: true` in the container's securityContext. Mount an \
          `emptyDir` volume wherever the application needs to write (for example /tmp or a \
          cache directory).",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [\"ALL\"]
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
")),
    }],
    checkov: &["CKV_K8S_22"],
};

impl Rule for WritableRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &K8S003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let why = match present(&c.security.read_only_root_filesystem) {
                Some(Known::Value(true)) | Some(Known::Unknown(_)) => continue,
                Some(_) => "readOnlyRootFilesystem: false",
                None => "readOnlyRootFilesystem is not set",
            };
            out.push(security_finding(
                &K8S003,
                c,
                c.security.span,
                format!("{} has a writable root filesystem ({why})", describe(w, c)),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S004

pub struct RunsAsRoot;

static K8S004: RuleMeta = RuleMeta {
    code: "K8S004",
    name: "k8s-runs-as-root",
    severity: Severity::High,
    practice: "Kubernetes containers run as a non-root user.",
    formats: K8S,
    what: "A container whose effective `runAsUser` is 0, or that has neither an effective \
           `runAsNonRoot: true` nor an effective non-zero `runAsUser`. Effective means the \
           container's own securityContext if it sets the field, else the pod's: a pod-level \
           `runAsNonRoot: true` covers every container that does not override it.",
    why: "Without these settings the container runs as whatever user the image names, which \
          is root for most images. Root in a container owns the whole container filesystem \
          and mounted volumes, and any kernel or runtime escape lands as root on the node.",
    fix: "Set `runAsNonRoot: true` and a non-zero `runAsUser` (and `runAsGroup`) in the \
          pod's securityContext, so every container inherits them. Remove any container-level \
          `runAsUser: 0` override, and make sure the image works as that user.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: "", container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
")),
    }],
    checkov: &["CKV_K8S_23"],
};

impl Rule for RunsAsRoot {
    fn meta(&self) -> &'static RuleMeta {
        &K8S004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let user = effective(&c.security.run_as_user, &w.pod_security.run_as_user);
            let non_root = effective(&c.security.run_as_non_root, &w.pod_security.run_as_non_root);
            let span_of = |level: Level| match level {
                Level::Container => c.security.span,
                Level::Pod => w.pod_security.span,
            };
            let mut at = c.security.span;
            let why = match (user, non_root) {
                (Some((Known::Value(0), level)), _) => {
                    at = span_of(level);
                    format!("runAsUser: 0 is set on {}", level.describe())
                }
                (Some((Known::Value(uid), _)), _) if *uid > 0 => continue,
                (_, Some((Known::Value(true), _))) => continue,
                // A negative UID is invalid: the API server rejects it, nothing runs.
                (Some((Known::Value(_), _)), _) => continue,
                (Some((Known::Unknown(_), _)), _) | (_, Some((Known::Unknown(_), _))) => continue,
                (_, Some((Known::Value(false), level))) => {
                    at = span_of(level);
                    format!(
                        "runAsNonRoot: false is set on {} and no non-zero runAsUser",
                        level.describe()
                    )
                }
                _ => "neither the container nor the pod sets runAsNonRoot: true or a \
                      non-zero runAsUser, so the image's user (root by default) applies"
                    .to_string(),
            };
            out.push(security_finding(
                &K8S004,
                c,
                at,
                format!("{} may run as root: {why}", describe(w, c)),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S005..K8S007: host namespaces

fn host_namespace_rule(
    meta: &'static RuleMeta,
    unit: &Unit,
    out: &mut Vec<Finding>,
    field: &str,
    what: &str,
    setting: impl Fn(&Workload) -> &Known<bool>,
) {
    for w in workloads(unit) {
        if *setting(w) == Known::Value(true) {
            out.push(Finding::new(
                meta,
                &w.at,
                "",
                format!("{} shares the node's {what} ({field}: true)", w.at.resource),
            ));
        }
    }
}

pub struct HostNetwork;

static K8S005: RuleMeta = RuleMeta {
    code: "K8S005",
    name: "k8s-host-network",
    severity: Severity::High,
    practice: "Kubernetes pods use their own network namespace, not the node's.",
    formats: K8S,
    what: "A pod spec with `hostNetwork: true`.",
    why: "A pod on the host network sees every interface of the node: it can bind the node's \
          ports, reach services listening on localhost (the kubelet's and the container \
          runtime's among them), sniff traffic with NET_RAW, and bypasses NetworkPolicies \
          written for pod IPs.",
    fix: "Remove `hostNetwork: true` and expose the workload through a Service (a \
          NodePort or LoadBalancer if it must be reachable from outside the cluster). Keep \
          host networking for reviewed node agents such as CNI plugins.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: concat!(hardened_pod!(), "      hostNetwork: true
"), container: concat!(image!(), probe!())),
        passing: deployment!(pod: concat!(hardened_pod!(), "      hostNetwork: false
"), container: concat!(image!(), probe!())),
    }],
    checkov: &["CKV_K8S_19"],
};

impl Rule for HostNetwork {
    fn meta(&self) -> &'static RuleMeta {
        &K8S005
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        host_namespace_rule(
            &K8S005,
            unit,
            out,
            "hostNetwork",
            "network namespace",
            |w| &w.host_network,
        );
    }
}

pub struct HostPid;

static K8S006: RuleMeta = RuleMeta {
    code: "K8S006",
    name: "k8s-host-pid",
    severity: Severity::High,
    practice: "Kubernetes pods use their own process namespace, not the node's.",
    formats: K8S,
    what: "A pod spec with `hostPID: true`.",
    why: "With the node's process namespace, the pod's containers see every process on the \
          node, including other pods' and the kubelet's, can read their environment and \
          command lines (often holding secrets) and, as root, signal or ptrace them.",
    fix: "Remove `hostPID: true`. To share processes between the containers of one pod, use \
          `shareProcessNamespace: true` instead, which stays inside the pod.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: concat!(hardened_pod!(), "      hostPID: true
"), container: concat!(image!(), probe!())),
        passing: deployment!(pod: concat!(hardened_pod!(), "      shareProcessNamespace: true
"), container: concat!(image!(), probe!())),
    }],
    checkov: &["CKV_K8S_17"],
};

impl Rule for HostPid {
    fn meta(&self) -> &'static RuleMeta {
        &K8S006
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        host_namespace_rule(&K8S006, unit, out, "hostPID", "process namespace", |w| {
            &w.host_pid
        });
    }
}

pub struct HostIpc;

static K8S007: RuleMeta = RuleMeta {
    code: "K8S007",
    name: "k8s-host-ipc",
    severity: Severity::High,
    practice: "Kubernetes pods use their own IPC namespace, not the node's.",
    formats: K8S,
    what: "A pod spec with `hostIPC: true`.",
    why: "With the node's IPC namespace, the pod can read and write the shared memory \
          segments, semaphores and message queues of every process on the node, including \
          other pods', leaking or corrupting their data.",
    fix: "Remove `hostIPC: true`. Containers of the same pod already share an IPC namespace; \
          share data between pods through a volume or the network instead.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: concat!(hardened_pod!(), "      hostIPC: true
"), container: concat!(image!(), probe!())),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!())),
    }],
    checkov: &["CKV_K8S_18"],
};

impl Rule for HostIpc {
    fn meta(&self) -> &'static RuleMeta {
        &K8S007
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        host_namespace_rule(&K8S007, unit, out, "hostIPC", "IPC namespace", |w| {
            &w.host_ipc
        });
    }
}

// ---------------------------------------------------------------------------------------
// K8S008

pub struct Capabilities;

static K8S008: RuleMeta = RuleMeta {
    code: "K8S008",
    name: "k8s-capabilities",
    severity: Severity::Medium,
    practice: "Kubernetes containers drop all Linux capabilities and add back only harmless \
               ones.",
    formats: K8S,
    what: "A container that adds a dangerous capability (`SYS_ADMIN`, `NET_ADMIN`, \
           `NET_RAW`, `SYS_PTRACE`, `SYS_MODULE`, `DAC_READ_SEARCH`, `ALL`, …) or that does \
           not drop `ALL`. One finding per container names both problems.",
    why: "Container runtimes grant a default set of capabilities (including `NET_RAW`, used \
          for ARP and DNS spoofing inside the cluster network) unless they are dropped, and \
          the dangerous ones added on top are the usual tools of container escapes: mounting \
          filesystems, loading kernel modules, tracing other processes, reading any file.",
    fix: "Set `capabilities: {drop: [\"ALL\"]}` in the container's securityContext and add \
          back only what the process needs, such as `NET_BIND_SERVICE` to listen below port \
          1024. Never add `SYS_ADMIN` or `ALL`.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              add: [\"NET_ADMIN\"]
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
              add: [\"NET_BIND_SERVICE\"]
")),
    }],
    checkov: &["CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_39"],
};

impl Rule for Capabilities {
    fn meta(&self) -> &'static RuleMeta {
        &K8S008
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let added: Vec<String> = c
                .security
                .capabilities_add
                .iter()
                .filter_map(|cap| cap.value())
                .map(|cap| capability(cap))
                .filter(|cap| DANGEROUS_CAPABILITIES.contains(&cap.as_str()))
                .collect();
            let drops = &c.security.capabilities_drop;
            let drops_all = drops
                .iter()
                .any(|cap| cap.value().is_some_and(|v| capability(v) == "ALL"));
            let drop_unknown = drops.iter().any(Known::is_unknown);
            let mut problems = Vec::new();
            if !added.is_empty() {
                problems.push(format!("adds {}", added.join(", ")));
            }
            if !drops_all && !drop_unknown {
                problems.push("does not drop ALL".to_string());
            }
            if problems.is_empty() {
                continue;
            }
            out.push(security_finding(
                &K8S008,
                c,
                c.security.span,
                format!("{} {}", describe(w, c), problems.join(" and ")),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S009

pub struct NoReadinessProbe;

static K8S009: RuleMeta = RuleMeta {
    code: "K8S009",
    name: "k8s-no-readiness-probe",
    severity: Severity::Low,
    practice: "Long-running Kubernetes containers declare a readiness probe.",
    formats: K8S,
    what: "A container (not an init or ephemeral container) of a long-running workload (any \
           kind but Job and CronJob) without a `readinessProbe`.",
    why: "Without a readiness probe, Kubernetes sends traffic to a pod as soon as its \
          containers start and keeps sending it while the application is stuck or \
          overloaded; rolling updates also proceed past replicas that never became able to \
          serve, turning a bad release into an outage.",
    fix: "Add a `readinessProbe` (an `httpGet` on a health endpoint, a `tcpSocket` or an \
          `exec` check) that succeeds only when the container can serve requests.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
")),
    }],
    checkov: &["CKV_K8S_9"],
};

impl Rule for NoReadinessProbe {
    fn meta(&self) -> &'static RuleMeta {
        &K8S009
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let runs_to_completion = matches!(w.kind.as_str(), "Job" | "CronJob");
            if runs_to_completion || c.role != "container" || c.readiness_probe {
                continue;
            }
            out.push(finding(
                &K8S009,
                c,
                format!("{} has no readinessProbe", describe(w, c)),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S010

pub struct ImageNotPinned;

static K8S010: RuleMeta = RuleMeta {
    code: "K8S010",
    name: "k8s-image-not-pinned",
    severity: Severity::Medium,
    practice: "Kubernetes containers name an image by a fixed tag or a digest.",
    formats: K8S,
    what: "A container whose image has the `:latest` tag, or neither a tag nor a digest \
           (which means `:latest`).",
    why: "`latest` moves: two replicas of one Deployment can run different code, a \
          rollback redeploys whatever was pushed last, and a compromised or broken push to \
          the registry reaches production at the next pod restart without any change to \
          the manifest.",
    fix: "Reference the image by a version tag that is never overwritten (`web:1.4.2`) or, \
          better, by digest (`web@sha256:…`). Make the registry's tags immutable.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!("          image: registry.example.com/shop/web:latest
", probe!())),
        passing: deployment!(pod: hardened_pod!(), container: concat!("          image: registry.example.com/shop/web@sha256:0d6e6ad1a7a5b4bd36d2b1a0a0e3b4c1a5e1e5c3f0d6f5e2b9c8a7d6e5f4c3b2
", probe!())),
    }],
    checkov: &["CKV_K8S_14"],
};

/// What is wrong with an image reference, if anything: `:latest`, or no tag and no digest.
/// References built from variables (`$(IMAGE)`, `${TAG}`, `{{ .Values.image }}`) and
/// placeholders for the reader to fill in (`<YOUR-IMAGE>`) are not judged.
fn image_problem(image: &str) -> Option<&'static str> {
    let image = image.trim();
    let not_a_reference =
        image.is_empty() || image.contains(['$', '<', '>', ' ']) || image.contains("{{");
    if not_a_reference || image.contains('@') {
        return None;
    }
    // A registry may have a port (`localhost:5000/web`): the tag is in the last segment.
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) => Some("uses the :latest tag"),
        Some(_) => None,
        None => Some("has no tag or digest, so :latest is pulled"),
    }
}

impl Rule for ImageNotPinned {
    fn meta(&self) -> &'static RuleMeta {
        &K8S010
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            let Known::Value(image) = &c.image else {
                continue;
            };
            if let Some(problem) = image_problem(image) {
                out.push(finding(
                    &K8S010,
                    c,
                    format!("{} image {image} {problem}", describe(w, c)),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// K8S011

pub struct SecretInEnv;

static K8S011: RuleMeta = RuleMeta {
    code: "K8S011",
    name: "k8s-secret-in-env",
    severity: Severity::High,
    practice: "Kubernetes containers take credentials from Secrets, never from literal env \
               values.",
    formats: K8S,
    what: "An `env` entry whose name says it holds a credential (`DB_PASSWORD`, `API_TOKEN`, \
           `STRIPE_SECRET_KEY`, …) and that sets a literal `value`. Entries using \
           `valueFrom`, names that describe a secret rather than hold it (`PASSWORD_FILE`, \
           `AWS_ACCESS_KEY_ID`) and flag values (`true`, `no`) are not reported.",
    why: "A literal value is stored in plain text in the manifest, in the repository and its \
          history, and in the object in etcd, readable by anyone who can `get` the workload \
          (far more people than can read Secrets). Rotating it means a code change.",
    fix: "Store the value in a Secret (or an external secret store synced into one) and \
          reference it with `valueFrom.secretKeyRef`, or mount it as a file. Rotate the \
          credential that was committed.",
    examples: &[Example {
        file: "deployment.yaml",
        failing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          env:
            - name: DB_HOST
              value: postgres.shop.svc
            - name: DB_PASSWORD
              value: Tr0ub4dor-and-3
")),
        passing: deployment!(pod: hardened_pod!(), container: concat!(image!(), probe!(), "          env:
            - name: DB_HOST
              value: postgres.shop.svc
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: web-db
                  key: password
")),
    }],
    checkov: &[],
};

impl Rule for SecretInEnv {
    fn meta(&self) -> &'static RuleMeta {
        &K8S011
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for (w, c) in containers(unit) {
            for var in c.env.iter().filter(|v| is_literal_secret(v)) {
                out.push(Finding::new(
                    &K8S011,
                    &c.at.at(var.span),
                    &format!("{}/{}", c.name, var.name),
                    format!(
                        "{} sets {} as a literal env value",
                        describe(w, c),
                        var.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::formats::kubernetes::tests::tree;
    use crate::model::{EnvVar, SecurityContext, Site, Span};

    /// The workload's lines are 1-40; its containers sit inside them.
    fn workload_site() -> Site {
        let file: Arc<str> = Arc::from("deployment.yaml");
        Site::new(&file, "Deployment/shop/web", Span::new(1, 40))
    }

    /// A container that passes every rule.
    fn hardened(name: &str) -> K8sContainer {
        K8sContainer {
            at: workload_site().at(Span::new(10, 13)),
            name: name.into(),
            role: "container",
            image: Known::Value("registry.example.com/web:1.4.2".into()),
            security: SecurityContext {
                allow_privilege_escalation: Some(Known::Value(false)),
                read_only_root_filesystem: Some(Known::Value(true)),
                capabilities_drop: vec![Known::Value("ALL".into())],
                ..SecurityContext::default()
            },
            readiness_probe: true,
            env: Vec::new(),
        }
    }

    fn non_root_pod() -> SecurityContext {
        SecurityContext {
            run_as_non_root: Some(Known::Value(true)),
            ..SecurityContext::default()
        }
    }

    fn workload(kind: &str, pod: SecurityContext, containers: Vec<K8sContainer>) -> Unit {
        Unit {
            facts: vec![Fact::Workload(Workload {
                at: workload_site(),
                kind: kind.into(),
                host_network: Known::Absent,
                host_pid: Known::Absent,
                host_ipc: Known::Absent,
                pod_security: pod,
                containers,
            })],
            ..Unit::default()
        }
    }

    /// A hardened Deployment whose one container `app` is edited.
    fn with(edit: impl FnOnce(&mut K8sContainer)) -> Unit {
        let mut c = hardened("app");
        edit(&mut c);
        workload("Deployment", non_root_pod(), vec![c])
    }

    fn run(rule: &dyn Rule, unit: &Unit) -> Vec<Finding> {
        let mut out = Vec::new();
        rule.check(unit, &mut out);
        out
    }

    fn count(rule: &dyn Rule, unit: &Unit) -> usize {
        run(rule, unit).len()
    }

    #[test]
    fn a_hardened_workload_raises_nothing() {
        let unit = with(|_| {});
        for rule in RULES {
            assert_eq!(count(*rule, &unit), 0, "{}", rule.meta().code);
        }
    }

    #[test]
    fn privileged_is_reported_on_containers_and_init_containers() {
        let mut init = hardened("migrate");
        init.role = "initContainer";
        init.security.privileged = Some(Known::Value(true));
        let unit = workload("Deployment", non_root_pod(), vec![hardened("app"), init]);
        let found = run(&Privileged, &unit);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .starts_with("init container migrate of Deployment/shop/web")
        );
        assert_eq!(found[0].line, 10);
        assert_eq!(found[0].resource_span, Span::new(1, 40));
        let unknown = with(|c| c.security.privileged = Some(Known::Unknown("x".into())));
        assert_eq!(count(&Privileged, &unknown), 0);
    }

    #[test]
    fn privilege_escalation_unless_explicitly_forbidden() {
        let unset = run(
            &PrivilegeEscalation,
            &with(|c| c.security.allow_privilege_escalation = None),
        );
        assert_eq!(unset.len(), 1);
        assert!(unset[0].message.contains("defaults to true"));
        let on = with(|c| c.security.allow_privilege_escalation = Some(Known::Value(true)));
        assert_eq!(count(&PrivilegeEscalation, &on), 1);
        let unknown =
            with(|c| c.security.allow_privilege_escalation = Some(Known::Unknown("x".into())));
        assert_eq!(count(&PrivilegeEscalation, &unknown), 0);
        // privileged: true allows escalation whatever allowPrivilegeEscalation says.
        let privileged = run(
            &PrivilegeEscalation,
            &with(|c| c.security.privileged = Some(Known::Value(true))),
        );
        assert_eq!(privileged.len(), 1);
        assert!(privileged[0].message.contains("privileged: true"));
    }

    #[test]
    fn writable_root_filesystem_unless_read_only() {
        assert_eq!(
            count(
                &WritableRootFilesystem,
                &with(|c| c.security.read_only_root_filesystem = None)
            ),
            1
        );
        let off = with(|c| c.security.read_only_root_filesystem = Some(Known::Value(false)));
        assert!(
            run(&WritableRootFilesystem, &off)[0]
                .message
                .contains("readOnlyRootFilesystem: false")
        );
        let unknown =
            with(|c| c.security.read_only_root_filesystem = Some(Known::Unknown("x".into())));
        assert_eq!(count(&WritableRootFilesystem, &unknown), 0);
        // The pod has no such field: a pod-level value must not be read as the container's.
        let mut pod = non_root_pod();
        pod.read_only_root_filesystem = Some(Known::Value(true));
        let mut c = hardened("app");
        c.security.read_only_root_filesystem = None;
        assert_eq!(
            count(&WritableRootFilesystem, &workload("Pod", pod, vec![c])),
            1
        );
    }

    #[test]
    fn run_as_non_root_on_the_pod_covers_containers_that_do_not_override_it() {
        let mut init = hardened("migrate");
        init.role = "initContainer";
        let unit = workload("Deployment", non_root_pod(), vec![hardened("app"), init]);
        assert_eq!(count(&RunsAsRoot, &unit), 0);
        let pod_uid = SecurityContext {
            run_as_user: Some(Known::Value(10001)),
            ..SecurityContext::default()
        };
        assert_eq!(
            count(
                &RunsAsRoot,
                &workload("Pod", pod_uid, vec![hardened("app")])
            ),
            0
        );
    }

    #[test]
    fn a_container_override_to_root_is_reported_despite_the_pod() {
        let unit = with(|c| c.security.run_as_user = Some(Known::Value(0)));
        let found = run(&RunsAsRoot, &unit);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("runAsUser: 0 is set on the container"),
            "{}",
            found[0].message
        );
        let overridden = with(|c| c.security.run_as_non_root = Some(Known::Value(false)));
        let found = run(&RunsAsRoot, &overridden);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("runAsNonRoot: false is set on the container")
        );
    }

    #[test]
    fn root_from_the_pod_and_rescue_by_the_container() {
        let root_pod = SecurityContext {
            run_as_user: Some(Known::Value(0)),
            ..SecurityContext::default()
        };
        let found = run(
            &RunsAsRoot,
            &workload("Pod", root_pod.clone(), vec![hardened("app")]),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("set on the pod"));
        // The container's own runAsUser wins over the pod's.
        let mut c = hardened("app");
        c.security.run_as_user = Some(Known::Value(1000));
        assert_eq!(count(&RunsAsRoot, &workload("Pod", root_pod, vec![c])), 0);
        // runAsNonRoot only at container level is enough too.
        let mut c = hardened("app");
        c.security.run_as_non_root = Some(Known::Value(true));
        assert_eq!(
            count(
                &RunsAsRoot,
                &workload("Pod", SecurityContext::default(), vec![c])
            ),
            0
        );
    }

    #[test]
    fn findings_point_at_the_security_context_that_decides_them() {
        let mut c = hardened("app");
        c.security.span = Some(Span::new(14, 16));
        c.security.privileged = Some(Known::Value(true));
        let root_pod = SecurityContext {
            run_as_user: Some(Known::Value(0)),
            span: Some(Span::new(6, 7)),
            ..SecurityContext::default()
        };
        let unit = workload("Pod", root_pod, vec![c]);
        let privileged = run(&Privileged, &unit);
        assert_eq!((privileged[0].line, privileged[0].end_line), (14, 16));
        let root = run(&RunsAsRoot, &unit);
        assert_eq!((root[0].line, root[0].end_line), (6, 7));
        assert_eq!(root[0].resource_span, Span::new(1, 40));
        // Lines do not enter the fingerprint: moving the pod's securityContext keeps it.
        let moved = workload(
            "Pod",
            SecurityContext {
                run_as_user: Some(Known::Value(0)),
                span: Some(Span::new(20, 21)),
                ..SecurityContext::default()
            },
            vec![hardened("app")],
        );
        assert_eq!(run(&RunsAsRoot, &moved)[0].fingerprint, root[0].fingerprint);
    }

    #[test]
    fn nothing_set_anywhere_is_root_but_unknowns_are_not_reported() {
        let bare = workload("Pod", SecurityContext::default(), vec![hardened("app")]);
        let found = run(&RunsAsRoot, &bare);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("neither the container nor the pod")
        );
        let unknown_pod = SecurityContext {
            run_as_user: Some(Known::Unknown("{{ .Values.uid }}".into())),
            ..SecurityContext::default()
        };
        assert_eq!(
            count(
                &RunsAsRoot,
                &workload("Pod", unknown_pod, vec![hardened("app")])
            ),
            0
        );
        let unknown_flag = SecurityContext {
            run_as_non_root: Some(Known::Unknown("x".into())),
            ..SecurityContext::default()
        };
        assert_eq!(
            count(
                &RunsAsRoot,
                &workload("Pod", unknown_flag, vec![hardened("app")])
            ),
            0
        );
    }

    #[test]
    fn an_unresolved_security_context_raises_nothing() {
        let unknown = || Known::Unknown("{{ .Values.securityContext }}".to_string());
        let mut c = hardened("app");
        c.security = SecurityContext {
            privileged: Some(unknown().map(|_: String| false)),
            allow_privilege_escalation: Some(unknown().map(|_: String| false)),
            read_only_root_filesystem: Some(unknown().map(|_: String| false)),
            run_as_non_root: Some(unknown().map(|_: String| false)),
            run_as_user: Some(unknown().map(|_: String| 0)),
            capabilities_add: vec![unknown()],
            capabilities_drop: vec![unknown()],
            span: Some(Span::line(12)),
        };
        let unit = workload("Pod", SecurityContext::default(), vec![c]);
        for rule in RULES {
            assert_eq!(count(*rule, &unit), 0, "{}", rule.meta().code);
        }
    }

    #[test]
    fn host_namespaces_are_reported_on_the_workload() {
        let mut unit = with(|_| {});
        if let Some(Fact::Workload(w)) = unit.facts.first_mut() {
            w.host_network = Known::Value(true);
            w.host_pid = Known::Value(false);
            w.host_ipc = Known::Unknown("x".into());
        }
        let found = run(&HostNetwork, &unit);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "Deployment/shop/web shares the node's network namespace (hostNetwork: true)"
        );
        assert_eq!(found[0].line, 1);
        assert_eq!(count(&HostPid, &unit), 0);
        assert_eq!(count(&HostIpc, &unit), 0);
        if let Some(Fact::Workload(w)) = unit.facts.first_mut() {
            w.host_pid = Known::Value(true);
            w.host_ipc = Known::Value(true);
        }
        assert_eq!(count(&HostPid, &unit), 1);
        assert_eq!(count(&HostIpc, &unit), 1);
    }

    #[test]
    fn capabilities_one_finding_naming_every_problem() {
        let both = with(|c| {
            c.security.capabilities_drop.clear();
            c.security.capabilities_add = vec![
                Known::Value("CAP_SYS_ADMIN".into()),
                Known::Value("NET_BIND_SERVICE".into()),
                Known::Value("net_raw".into()),
            ];
        });
        let found = run(&Capabilities, &both);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .ends_with("adds SYS_ADMIN, NET_RAW and does not drop ALL"),
            "{}",
            found[0].message
        );
        let harmless =
            with(|c| c.security.capabilities_add = vec![Known::Value("NET_BIND_SERVICE".into())]);
        assert_eq!(count(&Capabilities, &harmless), 0);
        let dropped_some =
            with(|c| c.security.capabilities_drop = vec![Known::Value("NET_RAW".into())]);
        assert!(
            run(&Capabilities, &dropped_some)[0]
                .message
                .ends_with("does not drop ALL")
        );
        let unknown_drop =
            with(|c| c.security.capabilities_drop = vec![Known::Unknown("x".into())]);
        assert_eq!(count(&Capabilities, &unknown_drop), 0);
    }

    #[test]
    fn readiness_probes_only_for_long_running_regular_containers() {
        let no_probe = |role: &'static str| {
            let mut c = hardened("app");
            c.readiness_probe = false;
            c.role = role;
            c
        };
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "Pod",
            "ReplicationController",
        ] {
            assert_eq!(
                count(
                    &NoReadinessProbe,
                    &workload(kind, non_root_pod(), vec![no_probe("container")])
                ),
                1,
                "{kind}"
            );
        }
        for kind in ["Job", "CronJob"] {
            assert_eq!(
                count(
                    &NoReadinessProbe,
                    &workload(kind, non_root_pod(), vec![no_probe("container")])
                ),
                0,
                "{kind}"
            );
        }
        let init = workload(
            "Deployment",
            non_root_pod(),
            vec![
                hardened("app"),
                no_probe("initContainer"),
                no_probe("ephemeralContainer"),
            ],
        );
        assert_eq!(count(&NoReadinessProbe, &init), 0);
    }

    #[test]
    fn images_need_a_fixed_tag_or_a_digest() {
        for image in [
            "nginx",
            "nginx:latest",
            "localhost:5000/web",
            "registry.example.com:443/team/web:latest",
        ] {
            assert!(image_problem(image).is_some(), "{image}");
        }
        for image in [
            "nginx:1.27",
            "localhost:5000/web:2",
            "web@sha256:abc",
            "web:latest@sha256:abc",
            "$(IMAGE)",
            "{{ .Values.image }}",
            "<YOUR-CONTAINER>",
            "",
        ] {
            assert_eq!(image_problem(image), None, "{image}");
        }
        let found = run(
            &ImageNotPinned,
            &with(|c| c.image = Known::Value("redis".into())),
        );
        assert_eq!(
            found[0].message,
            "container app of Deployment/shop/web image redis has no tag or digest, so :latest is pulled"
        );
        assert_eq!(
            count(&ImageNotPinned, &with(|c| c.image = Known::Absent)),
            0
        );
    }

    #[test]
    fn literal_secrets_in_env_are_named_never_printed() {
        let unit = with(|c| {
            c.env = vec![
                EnvVar {
                    name: "MYSQL_ROOT_PASSWORD".into(),
                    value: Known::Value("hunter2hunter2".into()),
                    span: Span::line(12),
                },
                EnvVar {
                    name: "MYSQL_DATABASE".into(),
                    value: Known::Value("shop".into()),
                    span: Span::line(13),
                },
                EnvVar {
                    name: "API_TOKEN".into(),
                    value: Known::Value("$(TOKEN_FROM_SECRET)".into()),
                    span: Span::line(14),
                },
            ]
        });
        let found = run(&SecretInEnv, &unit);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 12);
        assert!(found[0].message.contains("MYSQL_ROOT_PASSWORD"));
        assert!(!found[0].message.contains("hunter2"));
    }

    #[test]
    fn every_rule_has_complete_metadata() {
        for rule in RULES {
            let meta = rule.meta();
            assert!(meta.code.starts_with("K8S") && meta.name.starts_with("k8s-"));
            assert!(!meta.practice.is_empty() && !meta.what.is_empty() && !meta.why.is_empty());
            assert!(meta.hint().ends_with('.'), "{}", meta.code);
            assert!(
                meta.examples.iter().any(|e| e.file == "deployment.yaml"),
                "{}",
                meta.code
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // The examples through a real YAML parser. The crate's own YAML loader lives elsewhere;
    // saphyr (its dependency) is enough to check that each example says what it means.

    fn yaml_to_json(yaml: &saphyr::Yaml) -> serde_json::Value {
        use saphyr::{Scalar, Yaml};
        match yaml {
            Yaml::Value(Scalar::Null) | Yaml::Alias(_) | Yaml::BadValue => serde_json::Value::Null,
            Yaml::Value(Scalar::Boolean(b)) => (*b).into(),
            Yaml::Value(Scalar::Integer(i)) => (*i).into(),
            Yaml::Value(Scalar::FloatingPoint(f)) => f.into_inner().into(),
            Yaml::Value(Scalar::String(s)) => s.to_string().into(),
            Yaml::Representation(s, _, _) => s.to_string().into(),
            Yaml::Sequence(items) => items.iter().map(yaml_to_json).collect(),
            Yaml::Mapping(map) => map
                .iter()
                .map(|(k, v)| {
                    let key = match yaml_to_json(k) {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Yaml::Tagged(_, inner) => yaml_to_json(inner),
        }
    }

    pub(crate) fn load_yaml(text: &str) -> Vec<crate::node::Node> {
        use saphyr::LoadableYamlNode;
        let docs = saphyr::Yaml::load_from_str(text).unwrap_or_default();
        docs.iter().map(|d| tree(&yaml_to_json(d))).collect()
    }

    fn scan_example(text: &str) -> Unit {
        let file = crate::source::SourceFile::new("deployment.yaml", text);
        let parsed = crate::formats::kubernetes::extract(&file, &load_yaml(text));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        Unit {
            facts: parsed.facts,
            ..Unit::default()
        }
    }

    #[test]
    fn examples_fail_and_pass_as_documented() {
        for rule in RULES {
            for example in rule.meta().examples {
                let failing = scan_example(example.failing);
                assert!(
                    !failing.facts.is_empty(),
                    "{} failing example has no workload",
                    rule.meta().code
                );
                assert!(
                    count(*rule, &failing) > 0,
                    "{} failing example passes",
                    rule.meta().code
                );
                let passing = scan_example(example.passing);
                assert!(
                    !passing.facts.is_empty(),
                    "{} passing example has no workload",
                    rule.meta().code
                );
                assert_eq!(
                    count(*rule, &passing),
                    0,
                    "{} passing example fails",
                    rule.meta().code
                );
            }
        }
    }
}
