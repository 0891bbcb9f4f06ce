//! Kubernetes manifests: workloads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ReplicationController, Job, CronJob, and `List`s of them) turned into [`Workload`] facts,
//! plus a [`Literal`] fact for every literal `env[].value`.
//!
//! The YAML (or JSON) loader has already produced one [`Node`] per document. Documents that
//! are not workloads (Services, ConfigMaps, RBAC, …) are ignored. A workload whose parts have
//! the wrong shape (a string where a map is expected) is reported as a [`ScanError`] at that
//! line and the malformed part is skipped; the rest of the workload is still checked.

use std::sync::Arc;

use base64::Engine as _;

use crate::finding::ScanError;
use crate::formats::Parsed;
use crate::model::{
    EnvVar, Fact, K8sContainer, Known, Literal, LiteralContext, SecurityContext, Site, Workload,
};
use crate::node::{Node, Value};
use crate::rules::Format;
use crate::source::SourceFile;

/// `kind: List` may nest; real manifests nest at most once or twice, so this bound only
/// protects against pathological input.
const MAX_LIST_DEPTH: usize = 16;

/// Whether a document is a Kubernetes object: string `apiVersion` and `kind` at the top.
pub fn is_manifest(doc: &Node) -> bool {
    let is_string = |key: &str| {
        matches!(
            doc.get(key),
            Some(Node {
                value: Value::String(_),
                ..
            })
        )
    };
    is_string("apiVersion") && is_string("kind")
}

/// Extracts every workload of every document.
pub fn extract(file: &SourceFile, docs: &[Node]) -> Parsed {
    let mut reader = Reader {
        file: file.path.clone(),
        parsed: Parsed::new(Format::Kubernetes),
    };
    for doc in docs.iter().filter(|d| is_manifest(d)) {
        reader.object(doc, 0);
    }
    reader.parsed
}

/// Where a kind keeps its pod spec.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some(&["spec", "template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

const CONTAINER_LISTS: [(&str, &str); 3] = [
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
];

struct Reader {
    file: Arc<str>,
    parsed: Parsed,
}

impl Reader {
    fn error(&mut self, line: u32, message: String) {
        self.parsed.errors.push(ScanError {
            file: self.file.to_string(),
            line,
            message,
        });
    }

    /// One Kubernetes object; `List`s are opened recursively.
    fn object(&mut self, object: &Node, depth: usize) {
        let Some(kind) = object.get("kind").and_then(Node::as_str) else {
            return;
        };
        if kind == "List" {
            self.list(object, depth);
            return;
        }
        if kind == "Secret" {
            self.secret(object);
            return;
        }
        let Some(path) = pod_spec_path(kind) else {
            return;
        };
        let resource = resource_name(kind, object);
        let site = Site::new(&self.file, resource.clone(), object.span);
        let Some(spec) = self.follow(object, path, &resource) else {
            return;
        };
        let workload = self.workload(kind, site, spec);
        self.parsed.facts.push(Fact::Workload(workload));
    }

    /// A Secret manifest's values are literals committed with the code: `stringData` as
    /// written, `data` decoded from base64 (a value that is not base64 of UTF-8 text, such
    /// as a binary keystore, is left alone: the secrets rules read text).
    fn secret(&mut self, object: &Node) {
        let site = Site::new(&self.file, resource_name("Secret", object), object.span);
        for (field, encoded) in [("stringData", false), ("data", true)] {
            let Some(values) = object.get(field) else {
                continue;
            };
            for entry in values.entries() {
                let Some(text) = entry.value.as_str() else {
                    continue;
                };
                let value = if encoded {
                    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    match base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                    {
                        Some(decoded) => decoded,
                        None => continue,
                    }
                } else {
                    text.to_string()
                };
                self.parsed.facts.push(Fact::Literal(Literal {
                    at: site.at(entry.value.span),
                    context: LiteralContext::KubernetesSecret,
                    name: entry.key.clone(),
                    value,
                }));
            }
        }
    }

    fn list(&mut self, list: &Node, depth: usize) {
        if depth >= MAX_LIST_DEPTH {
            self.error(list.line(), "Kubernetes List nested too deeply".into());
            return;
        }
        match list.get("items") {
            None => {}
            Some(Node {
                value: Value::List(items),
                ..
            }) => {
                for item in items {
                    if item.get("kind").is_some() {
                        self.object(item, depth + 1);
                    }
                }
            }
            Some(Node {
                value: Value::Null, ..
            }) => {}
            Some(other) => self.error(
                other.line(),
                format!(
                    "`items` of a Kubernetes List must be a list, not {}",
                    shape(other)
                ),
            ),
        }
    }

    /// Follows `path` through maps. An absent step means the object does not (yet) have a
    /// pod spec (a partial manifest or patch), which is not an error; a step that is not a
    /// map is.
    fn follow<'a>(&mut self, object: &'a Node, path: &[&str], resource: &str) -> Option<&'a Node> {
        let mut node = object;
        let mut walked = String::new();
        for key in path {
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(key);
            let next = node.get(key)?;
            match next.value {
                Value::Map(_) => node = next,
                // Null is an empty part; an unresolved expression may be anything.
                Value::Null | Value::Unknown(_) => return None,
                _ => {
                    self.error(
                        next.line(),
                        format!(
                            "`{walked}` of {resource} must be a map, not {}",
                            shape(next)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(node)
    }

    fn workload(&mut self, kind: &str, at: Site, spec: &Node) -> Workload {
        let pod_security = self.security_context(spec.get("securityContext"), &at.resource);
        let mut containers = Vec::new();
        for (key, role) in CONTAINER_LISTS {
            let items = match spec.get(key) {
                None => continue,
                Some(Node {
                    value: Value::List(items),
                    ..
                }) => items,
                Some(Node {
                    value: Value::Null | Value::Unknown(_),
                    ..
                }) => continue,
                Some(other) => {
                    self.error(
                        other.line(),
                        format!(
                            "`{key}` of {} must be a list, not {}",
                            at.resource,
                            shape(other)
                        ),
                    );
                    continue;
                }
            };
            for (index, item) in items.iter().enumerate() {
                if item.is_unknown() {
                    continue;
                }
                if !matches!(item.value, Value::Map(_)) {
                    self.error(
                        item.line(),
                        format!(
                            "an entry of `{key}` of {} must be a map, not {}",
                            at.resource,
                            shape(item)
                        ),
                    );
                    continue;
                }
                containers.push(self.container(&at, role, index, item));
            }
        }
        Workload {
            kind: kind.to_string(),
            host_network: Node::known_bool(spec.get("hostNetwork")),
            host_pid: Node::known_bool(spec.get("hostPID")),
            host_ipc: Node::known_bool(spec.get("hostIPC")),
            pod_security,
            containers,
            at,
        }
    }

    fn container(
        &mut self,
        workload: &Site,
        role: &'static str,
        index: usize,
        node: &Node,
    ) -> K8sContainer {
        let name = node
            .get("name")
            .and_then(Node::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{role} #{}", index + 1));
        let at = workload.at(node.span);
        let label = format!("{} {role} {name}", workload.resource);
        let security = self.security_context(node.get("securityContext"), &label);
        let readiness_probe = node
            .get("readinessProbe")
            .is_some_and(|probe| !matches!(probe.value, Value::Null));
        let env = self.env(&at, &label, node.get("env"));
        K8sContainer {
            image: Node::known_str(node.get("image")),
            name,
            role,
            security,
            readiness_probe,
            env,
            at,
        }
    }

    /// Literal `env[].value`s (and unknown ones, which rules skip). Entries with `valueFrom`
    /// take their value from a Secret, ConfigMap or field reference: they are not literals.
    fn env(&mut self, container: &Site, label: &str, env: Option<&Node>) -> Vec<EnvVar> {
        let items = match env {
            None => return Vec::new(),
            Some(Node {
                value: Value::List(items),
                ..
            }) => items,
            Some(Node {
                value: Value::Null | Value::Unknown(_),
                ..
            }) => return Vec::new(),
            Some(other) => {
                self.error(
                    other.line(),
                    format!("`env` of {label} must be a list, not {}", shape(other)),
                );
                return Vec::new();
            }
        };
        let mut vars = Vec::new();
        for entry in items {
            if entry.get("valueFrom").is_some() {
                continue;
            }
            let Some(name) = entry.get("name").and_then(Node::as_str) else {
                continue;
            };
            let value_node = entry.get("value");
            let value = Node::known_str(value_node);
            if value.is_absent() {
                continue;
            }
            let span = value_node.map_or(entry.span, |n| n.span);
            if let Known::Value(text) = &value {
                self.parsed.facts.push(Fact::Literal(Literal {
                    at: container.at(span),
                    context: LiteralContext::KubernetesEnv,
                    name: name.to_string(),
                    value: text.clone(),
                }));
            }
            vars.push(EnvVar {
                name: name.to_string(),
                value,
                span,
            });
        }
        vars
    }

    fn security_context(&mut self, node: Option<&Node>, label: &str) -> SecurityContext {
        let Some(node) = node else {
            return SecurityContext::default();
        };
        match &node.value {
            Value::Map(_) => {}
            Value::Null => return SecurityContext::default(),
            // Nothing is known about any setting: every rule must stay silent.
            Value::Unknown(unknown) => {
                let origin = &unknown.origin;
                return SecurityContext {
                    privileged: Some(Known::Unknown(origin.clone())),
                    allow_privilege_escalation: Some(Known::Unknown(origin.clone())),
                    read_only_root_filesystem: Some(Known::Unknown(origin.clone())),
                    run_as_non_root: Some(Known::Unknown(origin.clone())),
                    run_as_user: Some(Known::Unknown(origin.clone())),
                    capabilities_add: vec![Known::Unknown(origin.clone())],
                    capabilities_drop: vec![Known::Unknown(origin.clone())],
                    span: Some(node.span),
                };
            }
            _ => {
                self.error(
                    node.line(),
                    format!(
                        "`securityContext` of {label} must be a map, not {}",
                        shape(node)
                    ),
                );
                return SecurityContext::default();
            }
        }
        let present = |known: Known<bool>| (!known.is_absent()).then_some(known);
        let capabilities = node.get("capabilities");
        let capability_list = |key: &str| -> Vec<Known<String>> {
            capabilities
                .and_then(|caps| caps.get(key))
                .map(|list| {
                    list.items()
                        .iter()
                        .map(|c| Node::known_str(Some(c)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let run_as_user = Node::known_i64(node.get("runAsUser"));
        SecurityContext {
            privileged: present(Node::known_bool(node.get("privileged"))),
            allow_privilege_escalation: present(Node::known_bool(
                node.get("allowPrivilegeEscalation"),
            )),
            read_only_root_filesystem: present(Node::known_bool(
                node.get("readOnlyRootFilesystem"),
            )),
            run_as_non_root: present(Node::known_bool(node.get("runAsNonRoot"))),
            run_as_user: (!run_as_user.is_absent()).then_some(run_as_user),
            capabilities_add: capability_list("add"),
            capabilities_drop: capability_list("drop"),
            span: Some(node.span),
        }
    }
}

/// `Kind/namespace/name`, as the model's [`Workload`] documents it.
fn resource_name(kind: &str, object: &Node) -> String {
    let metadata = object.get("metadata");
    let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Node::as_str);
    let name = field("name")
        .or_else(|| field("generateName"))
        .unwrap_or("(unnamed)");
    let namespace = field("namespace").unwrap_or("default");
    format!("{kind}/{namespace}/{name}")
}

fn shape(node: &Node) -> &'static str {
    match node.value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Unknown(_) => "an expression",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::node::{Entry, Span};

    /// Builds a tree from JSON, giving each node its own line in document order (as a YAML
    /// loader would), so tests can assert where findings point.
    pub(crate) fn tree(value: &serde_json::Value) -> Node {
        fn go(value: &serde_json::Value, next_line: &mut u32) -> Node {
            let line = *next_line;
            *next_line += 1;
            let v = match value {
                serde_json::Value::Null => Value::Null,
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::Number(n) => Value::Number(n.to_string()),
                serde_json::Value::String(s) => Value::String(s.clone()),
                serde_json::Value::Array(items) => {
                    Value::List(items.iter().map(|i| go(i, next_line)).collect())
                }
                serde_json::Value::Object(map) => Value::Map(
                    map.iter()
                        .map(|(k, v)| {
                            let key_line = *next_line;
                            Entry {
                                key: k.clone(),
                                key_line,
                                value: go(v, next_line),
                            }
                        })
                        .collect(),
                ),
            };
            let end = (*next_line - 1).max(line);
            Node::new(v, Span::new(line, end))
        }
        let mut line = 1;
        go(value, &mut line)
    }

    pub(crate) fn extract_json(docs: &[serde_json::Value]) -> Parsed {
        let file = SourceFile::new("deployment.yaml", "");
        let nodes: Vec<Node> = docs.iter().map(tree).collect();
        extract(&file, &nodes)
    }

    pub(crate) fn workloads(parsed: &Parsed) -> Vec<&Workload> {
        parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Workload(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    fn deployment(pod_spec: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": pod_spec}}
        })
    }

    #[test]
    fn recognises_manifests_by_string_api_version_and_kind() {
        assert!(is_manifest(&tree(
            &serde_json::json!({"apiVersion": "v1", "kind": "Pod"})
        )));
        assert!(!is_manifest(&tree(&serde_json::json!({"kind": "Pod"}))));
        assert!(!is_manifest(&tree(
            &serde_json::json!({"apiVersion": 1, "kind": "Pod"})
        )));
        assert!(!is_manifest(&tree(&serde_json::json!([
            "apiVersion",
            "kind"
        ]))));
    }

    #[test]
    fn reads_a_deployment_with_its_security_contexts() {
        let parsed = extract_json(&[deployment(serde_json::json!({
            "hostNetwork": true,
            "hostPID": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "containers": [{
                "name": "app",
                "image": "nginx:1.27",
                "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                "securityContext": {
                    "privileged": false,
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "runAsUser": 0,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}
                }
            }],
            "initContainers": [{"name": "migrate", "image": "tool"}]
        }))]);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.format, Some(Format::Kubernetes));
        let found = workloads(&parsed);
        let [w] = found.as_slice() else {
            panic!("expected one workload, got {found:?}")
        };
        assert_eq!(w.at.resource, "Deployment/shop/web");
        assert_eq!(w.kind, "Deployment");
        assert_eq!(w.host_network, Known::Value(true));
        assert_eq!(w.host_pid, Known::Value(false));
        assert_eq!(w.host_ipc, Known::Absent);
        assert_eq!(w.pod_security.run_as_non_root, Some(Known::Value(true)));
        assert_eq!(w.pod_security.run_as_user, Some(Known::Value(1000)));
        let [app, migrate] = w.containers.as_slice() else {
            panic!("expected two containers")
        };
        assert_eq!((app.name.as_str(), app.role), ("app", "container"));
        assert_eq!(app.image, Known::Value("nginx:1.27".into()));
        assert!(app.readiness_probe);
        assert_eq!(app.security.privileged, Some(Known::Value(false)));
        assert_eq!(
            app.security.allow_privilege_escalation,
            Some(Known::Value(false))
        );
        assert_eq!(
            app.security.read_only_root_filesystem,
            Some(Known::Value(true))
        );
        assert_eq!(app.security.run_as_user, Some(Known::Value(0)));
        assert_eq!(app.security.run_as_non_root, None);
        assert_eq!(
            app.security.capabilities_add,
            vec![Known::Value("NET_ADMIN".into())]
        );
        assert_eq!(
            app.security.capabilities_drop,
            vec![Known::Value("ALL".into())]
        );
        assert_eq!(
            (migrate.name.as_str(), migrate.role),
            ("migrate", "initContainer")
        );
        assert!(!migrate.readiness_probe);
        assert_eq!(migrate.security, SecurityContext::default());
        // The container points at its own lines, inside the workload's.
        assert!(app.at.span.line > w.at.span.line);
        assert!(app.at.span.end_line <= w.at.span.end_line);
        assert_eq!(app.at.resource_span, w.at.span);
    }

    #[test]
    fn finds_the_pod_spec_of_every_workload_kind() {
        let containers = serde_json::json!({"containers": [{"name": "c", "image": "i:1"}]});
        let cases = [
            ("Pod", serde_json::json!({"spec": containers})),
            (
                "StatefulSet",
                serde_json::json!({"spec": {"template": {"spec": containers}}}),
            ),
            (
                "DaemonSet",
                serde_json::json!({"spec": {"template": {"spec": containers}}}),
            ),
            (
                "ReplicaSet",
                serde_json::json!({"spec": {"template": {"spec": containers}}}),
            ),
            (
                "ReplicationController",
                serde_json::json!({"spec": {"template": {"spec": containers}}}),
            ),
            (
                "Job",
                serde_json::json!({"spec": {"template": {"spec": containers}}}),
            ),
            (
                "CronJob",
                serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": containers}}}}}),
            ),
        ];
        for (kind, mut object) in cases {
            object["apiVersion"] = "v1".into();
            object["kind"] = kind.into();
            object["metadata"] = serde_json::json!({"name": "x"});
            let parsed = extract_json(&[object]);
            let found = workloads(&parsed);
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].at.resource, format!("{kind}/default/x"));
            assert_eq!(found[0].containers.len(), 1, "{kind}");
        }
    }

    #[test]
    fn opens_lists_recursively_and_ignores_other_kinds() {
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i:1"}]}
        });
        let parsed = extract_json(&[
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}}),
            serde_json::json!({
                "apiVersion": "v1", "kind": "List",
                "items": [pod, {"apiVersion": "v1", "kind": "List", "items": [
                    deployment(serde_json::json!({"containers": []}))
                ]}]
            }),
            serde_json::json!({"not": "a manifest"}),
        ]);
        let names: Vec<&str> = workloads(&parsed)
            .iter()
            .map(|w| w.at.resource.as_str())
            .collect();
        assert_eq!(names, ["Pod/default/p", "Deployment/shop/web"]);
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn secret_manifests_give_their_values_as_literals_decoded() {
        // "hunter2hunter2" and "admin" in base64; the keystore is not text.
        let parsed = extract_json(&[serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "data": {"password": "aHVudGVyMmh1bnRlcjI=", "user": "YWRt\naW4=", "keystore": "/w==", "bad": "%%%"},
            "stringData": {"api_token": "plain-text-token"}
        })]);
        let literals: Vec<(&str, &str, &str)> = parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) if l.context == LiteralContext::KubernetesSecret => {
                    Some((l.at.resource.as_str(), l.name.as_str(), l.value.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            literals,
            [
                ("Secret/shop/db", "api_token", "plain-text-token"),
                ("Secret/shop/db", "password", "hunter2hunter2"),
                ("Secret/shop/db", "user", "admin"),
            ]
        );
        assert!(parsed.errors.is_empty());
    }

    #[test]
    fn literal_env_values_become_env_vars_and_literals_but_value_from_does_not() {
        let parsed = extract_json(&[deployment(serde_json::json!({
            "containers": [{
                "name": "app",
                "env": [
                    {"name": "DB_PASSWORD", "value": "hunter2hunter2"},
                    {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "PORT", "value": 8080},
                    {"name": "EMPTY"}
                ]
            }]
        }))]);
        let found = workloads(&parsed);
        let env: Vec<(&str, Option<&String>)> = found[0].containers[0]
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.value()))
            .collect();
        assert_eq!(
            env,
            [
                ("DB_PASSWORD", Some(&"hunter2hunter2".to_string())),
                ("PORT", Some(&"8080".to_string()))
            ]
        );
        let literals: Vec<&Literal> = parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(literals.len(), 2);
        assert_eq!(literals[0].context, LiteralContext::KubernetesEnv);
        assert_eq!(literals[0].name, "DB_PASSWORD");
        assert_eq!(literals[0].at.resource, "Deployment/shop/web");
        assert_eq!(literals[0].at.span, found[0].containers[0].env[0].span);
    }

    #[test]
    fn malformed_shapes_are_reported_with_their_line_and_skipped() {
        let parsed = extract_json(&[
            deployment(serde_json::json!({
                "securityContext": "runAsNonRoot",
                "containers": [
                    "nginx",
                    {"name": "ok", "securityContext": ["privileged"], "env": "X=1"}
                ],
                "initContainers": {"name": "x"}
            })),
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": "oops"}),
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": "none"}),
            // No pod template at all (a partial manifest or a patch): nothing to check, no error.
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "e"}}),
        ]);
        let messages: Vec<&str> = parsed.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(parsed.errors.len(), 7, "{messages:?}");
        assert!(
            parsed
                .errors
                .iter()
                .all(|e| e.line > 0 && e.file == "deployment.yaml")
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`spec` of Deployment/default/d must be a map, not a string"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("an entry of `containers`"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`initContainers` of Deployment/shop/web must be a list"))
        );
        // The well-formed container of the broken workload is still read.
        let found = workloads(&parsed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].containers.len(), 1);
        assert_eq!(found[0].containers[0].name, "ok");
    }

    #[test]
    fn unresolved_expressions_are_unknown_not_errors() {
        let expr = |origin: &str| Node::unknown(origin, Span::line(3));
        let container = Node::new(
            Value::Map(vec![
                Entry {
                    key: "name".into(),
                    key_line: 4,
                    value: Node::string("app", Span::line(4)),
                },
                Entry {
                    key: "securityContext".into(),
                    key_line: 5,
                    value: expr("{{ .Values.sc }}"),
                },
                Entry {
                    key: "env".into(),
                    key_line: 6,
                    value: expr("{{ .Values.env }}"),
                },
            ]),
            Span::new(4, 6),
        );
        let pod_spec = Node::new(
            Value::Map(vec![
                Entry {
                    key: "containers".into(),
                    key_line: 3,
                    value: Node::new(Value::List(vec![container, expr("x")]), Span::new(3, 6)),
                },
                Entry {
                    key: "initContainers".into(),
                    key_line: 7,
                    value: expr("{{ .Values.init }}"),
                },
            ]),
            Span::new(3, 7),
        );
        let pod = tree(
            &serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        );
        let Value::Map(mut entries) = pod.value else {
            panic!("a map")
        };
        entries.push(Entry {
            key: "spec".into(),
            key_line: 3,
            value: pod_spec,
        });
        let pod = Node::new(Value::Map(entries), Span::new(1, 7));
        let parsed = extract(&SourceFile::new("p.yaml", ""), &[pod]);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let found = workloads(&parsed);
        let [c] = found[0].containers.as_slice() else {
            panic!("one container")
        };
        assert!(matches!(
            c.security.allow_privilege_escalation,
            Some(Known::Unknown(_))
        ));
        assert!(matches!(c.security.run_as_user, Some(Known::Unknown(_))));
        assert!(c.security.capabilities_drop.iter().all(Known::is_unknown));
        assert!(c.env.is_empty());

        let deployment = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}});
        let mut node = tree(&deployment);
        if let Value::Map(entries) = &mut node.value
            && let Some(spec) = entries.iter_mut().find(|e| e.key == "spec")
        {
            spec.value = expr("{{ .Values.spec }}");
        }
        let parsed = extract(&SourceFile::new("d.yaml", ""), &[node]);
        assert!(parsed.errors.is_empty() && parsed.facts.is_empty());
    }

    #[test]
    fn unknown_and_odd_values_stay_unknown() {
        let mut spec = tree(&deployment(serde_json::json!({
            "hostNetwork": "maybe",
            "containers": [{"name": "c", "securityContext": {"runAsUser": "root"}}]
        })));
        // An unresolved expression, as a templating front end would produce.
        if let Value::Map(entries) = &mut spec.value
            && let Some(meta) = entries.iter_mut().find(|e| e.key == "metadata")
        {
            meta.value = Node::unknown("{{ .Values.name }}", meta.value.span);
        }
        let parsed = extract(&SourceFile::new("d.yaml", ""), &[spec]);
        let found = workloads(&parsed);
        assert_eq!(found[0].at.resource, "Deployment/default/(unnamed)");
        assert!(found[0].host_network.is_unknown());
        assert!(matches!(
            found[0].containers[0].security.run_as_user,
            Some(Known::Unknown(_))
        ));
    }
}
