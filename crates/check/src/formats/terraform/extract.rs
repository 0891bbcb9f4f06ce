//! Facts from Terraform blocks: the AWS provider's resource types, mapped onto the model.

use std::collections::HashMap;

use super::TfBlock;
use super::hcl::{self, Piece};
use crate::finding::ScanError;
use crate::formats::json::from_serde;
use crate::formats::{Parsed, ecs, iam, json};
use crate::model::{
    CloudTrail, EcrRepository, EncryptedKind, Encryption, Fact, FlowLog, Ingress, Known, Literal,
    LiteralContext, LogGroup, NetworkAclEntry, Parameter, PolicyKind, Ports, PublicIp, Site, Vpc,
    normalise_protocol,
};
use crate::node::{Entry, Node, Span, Value};
use crate::rules::Format;
use crate::source::SourceFile;

/// Attributes that hold an IAM policy document, by resource type.
const POLICY_ATTRIBUTES: [(&str, &str, PolicyKind); 17] = [
    ("aws_iam_policy", "policy", PolicyKind::Identity),
    ("aws_iam_role_policy", "policy", PolicyKind::Identity),
    ("aws_iam_user_policy", "policy", PolicyKind::Identity),
    ("aws_iam_group_policy", "policy", PolicyKind::Identity),
    ("aws_iam_role", "assume_role_policy", PolicyKind::Trust),
    ("aws_ecr_repository_policy", "policy", PolicyKind::Resource),
    ("aws_s3_bucket_policy", "policy", PolicyKind::Resource),
    ("aws_sqs_queue_policy", "policy", PolicyKind::Resource),
    ("aws_sns_topic_policy", "policy", PolicyKind::Resource),
    ("aws_kms_key", "policy", PolicyKind::Resource),
    (
        "aws_elasticsearch_domain_policy",
        "access_policies",
        PolicyKind::Resource,
    ),
    (
        "aws_opensearch_domain_policy",
        "access_policies",
        PolicyKind::Resource,
    ),
    // Inline forms of the same resource policies.
    ("aws_s3_bucket", "policy", PolicyKind::Resource),
    ("aws_sqs_queue", "policy", PolicyKind::Resource),
    ("aws_sns_topic", "policy", PolicyKind::Resource),
    (
        "aws_elasticsearch_domain",
        "access_policies",
        PolicyKind::Resource,
    ),
    (
        "aws_opensearch_domain",
        "access_policies",
        PolicyKind::Resource,
    ),
];

const POLICY_DOCUMENT: &str = "aws_iam_policy_document";

pub(super) fn facts(file: &SourceFile, blocks: &[TfBlock]) -> Parsed {
    let mut ex = Extractor {
        file,
        parsed: Parsed::new(Format::Terraform),
        document_kinds: HashMap::new(),
    };
    for block in blocks {
        match block.kind.as_str() {
            "resource" => ex.resource(block),
            "provider" => {
                // An aliased provider is named as Terraform refers to it: `aws.alias`.
                let name = match block.body.get("alias").and_then(Node::as_str) {
                    Some(alias) => format!("provider.{}.{alias}", block.label(0)),
                    None => format!("provider.{}", block.label(0)),
                };
                let site = ex.site(name, block);
                ex.secret_named_attributes(&site, &block.body, &[]);
            }
            "variable" => ex.variable(block),
            // Backend settings (`backend "s3" { secret_key = ... }`) and locals can hold
            // credentials written in as literals.
            "locals" | "terraform" => {
                let site = ex.site(block.kind.clone(), block);
                ex.secret_named_attributes(&site, &block.body, &[]);
            }
            // Modules are evaluated by a later stage; data sources other than policy
            // documents describe existing infrastructure, not this code's.
            _ => {}
        }
    }
    // Policy documents last: their kind depends on which attributes refer to them.
    for block in blocks {
        if block.kind == "data" && block.label(0) == POLICY_DOCUMENT {
            ex.policy_document(block);
        }
    }
    ex.parsed
}

struct Extractor<'a> {
    file: &'a SourceFile,
    parsed: Parsed,
    /// `aws_iam_policy_document` names referred to by policy attributes, with the kinds of
    /// policy they are used as.
    document_kinds: HashMap<String, Vec<PolicyKind>>,
}

impl Extractor<'_> {
    fn site(&self, resource: String, block: &TfBlock) -> Site {
        Site {
            file: self.file.path.clone(),
            resource,
            span: block.span,
            resource_span: block.span,
        }
    }

    fn push(&mut self, fact: Fact) {
        self.parsed.facts.push(fact);
    }

    fn resource(&mut self, block: &TfBlock) {
        let kind = block.label(0);
        let site = self.site(block.address(), block);
        let body = &block.body;
        let mut handled: Vec<&str> = Vec::new();
        match kind {
            "aws_security_group" | "aws_default_security_group" => {
                for rule in nested_blocks(body, "ingress") {
                    let fact = self.ingress(
                        &site.at(rule.span),
                        rule,
                        "cidr_blocks",
                        "ipv6_cidr_blocks",
                        "protocol",
                    );
                    self.push(fact);
                }
            }
            "aws_security_group_rule" if is_literal(body.get("type"), "ingress") => {
                let fact = self.ingress(&site, body, "cidr_blocks", "ipv6_cidr_blocks", "protocol");
                self.push(fact);
            }
            "aws_vpc_security_group_ingress_rule" => {
                let fact = self.ingress(&site, body, "cidr_ipv4", "cidr_ipv6", "ip_protocol");
                self.push(fact);
            }
            "aws_network_acl_rule" => {
                let egress = match Node::known_bool(body.get("egress")) {
                    Known::Absent => Known::Value(false),
                    other => other,
                };
                let fact = nacl_entry(&site, body, egress, "rule_action");
                self.push(fact);
            }
            "aws_network_acl" | "aws_default_network_acl" => {
                for (key, egress) in [("ingress", false), ("egress", true)] {
                    for rule in nested_blocks(body, key) {
                        let fact =
                            nacl_entry(&site.at(rule.span), rule, Known::Value(egress), "action");
                        self.push(fact);
                    }
                }
            }
            "aws_ecs_service" | "aws_ecs_task_set" => {
                if let Some(config) = body.get("network_configuration").and_then(first_map) {
                    let assign = config.get("assign_public_ip");
                    let what = if kind == "aws_ecs_service" {
                        "ECS service"
                    } else {
                        "ECS task set"
                    };
                    self.push(Fact::PublicIp(PublicIp {
                        at: site.at(assign.map(|n| n.span).unwrap_or(config.span)),
                        what: what.into(),
                        assign_public_ip: Node::known_bool(assign),
                    }));
                }
            }
            "aws_ecs_task_definition" => {
                handled.push("container_definitions");
                self.task_definition(&site, body);
            }
            "aws_ecr_repository" => self.ecr_repository(&site, body),
            "aws_iam_access_key" => self.push(Fact::IamAccessKey(site.clone())),
            "aws_secretsmanager_secret" => {
                self.encryption(&site, body, EncryptedKind::Secret, "kms_key_id")
            }
            "aws_sns_topic" => {
                self.encryption(&site, body, EncryptedKind::Topic, "kms_master_key_id")
            }
            "aws_sqs_queue" => {
                self.encryption(&site, body, EncryptedKind::Queue, "kms_master_key_id")
            }
            "aws_cloudwatch_log_group" => self.push(Fact::LogGroup(LogGroup {
                at: site.clone(),
                retention_days: Node::known_i64(body.get("retention_in_days")),
            })),
            "aws_vpc" => {
                // The code refers to an instance by the block's own address (in a module
                // instance, the flow logs' targets are made module addresses too).
                let mut names = vec![site.resource.clone()];
                let local = format!("{}{}", block.module, block.local_address());
                if local != site.resource {
                    names.push(local);
                }
                self.push(Fact::Vpc(Vpc {
                    at: site.clone(),
                    names,
                }))
            }
            "aws_flow_log" => {
                let vpc = body.get("vpc_id");
                self.push(Fact::FlowLog(FlowLog {
                    at: site.at(vpc.map(|n| n.span).unwrap_or(site.span)),
                    target: flow_log_target(vpc).map(|t| format!("{}{t}", block.module)),
                }));
            }
            "aws_cloudtrail" => self.push(Fact::CloudTrail(CloudTrail {
                at: site.clone(),
                multi_region: Node::known_bool(body.get("is_multi_region_trail")),
                log_file_validation: Node::known_bool(body.get("enable_log_file_validation")),
            })),
            "aws_lambda_function" => {
                handled.push("environment");
                let variables = body
                    .get("environment")
                    .and_then(first_map)
                    .and_then(|env| env.get("variables"));
                for entry in variables.map(Node::entries).unwrap_or_default() {
                    if let Value::String(value) = &entry.value.value {
                        self.literal(
                            &site,
                            entry.value.span,
                            LiteralContext::LambdaEnvironment,
                            &entry.key,
                            value,
                        );
                    }
                }
            }
            "aws_instance" | "aws_launch_template" | "aws_launch_configuration" => {
                // Whether an instance gets a public IP by default depends on the subnet:
                // only an explicit setting is a fact.
                let explicit = match kind {
                    "aws_launch_template" => body
                        .get("network_interfaces")
                        .and_then(first_map)
                        .and_then(|n| n.get("associate_public_ip_address")),
                    _ => body.get("associate_public_ip_address"),
                };
                if let Some(assign) = explicit {
                    let what = match kind {
                        "aws_instance" => "EC2 instance",
                        "aws_launch_template" => "launch template",
                        _ => "launch configuration",
                    };
                    self.push(Fact::PublicIp(PublicIp {
                        at: site.at(assign.span),
                        what: what.into(),
                        assign_public_ip: Node::known_bool(Some(assign)),
                    }));
                }
                handled.push("user_data");
                if let Some(node) = body.get("user_data")
                    && let Some(text) = literal_through_base64(node)
                {
                    self.literal(
                        &site,
                        node.span,
                        LiteralContext::UserData,
                        "user_data",
                        &text,
                    );
                }
            }
            "aws_secretsmanager_secret_version" => {
                handled.push("secret_string");
                if let Some(node) = body.get("secret_string")
                    && let Some(text) = fully_known_text(node)
                {
                    self.literal(
                        &site,
                        node.span,
                        LiteralContext::SecretString,
                        "secret_string",
                        &text,
                    );
                }
            }
            "aws_ssm_parameter" => {
                handled.push("value");
                let secure = Node::known_str(body.get("type"))
                    .value()
                    .map(String::as_str)
                    == Some("SecureString");
                if secure
                    && let Some(node) = body.get("value")
                    && let Value::String(text) = &node.value
                {
                    self.literal(
                        &site,
                        node.span,
                        LiteralContext::SsmSecureString,
                        "value",
                        text,
                    );
                }
            }
            _ => {}
        }
        for (resource_type, attribute, kind) in POLICY_ATTRIBUTES {
            if resource_type == block.label(0) {
                handled.push(attribute);
                if let Some(node) = body.get(attribute) {
                    self.policy(&site, node, kind);
                }
            }
        }
        if kind == "aws_iam_role" {
            handled.push("inline_policy");
            for inline in nested_blocks(body, "inline_policy") {
                if let Some(node) = inline.get("policy") {
                    self.policy(&site, node, PolicyKind::Identity);
                }
            }
        }
        self.secret_named_attributes(&site, body, &handled);
    }

    fn ingress(&self, at: &Site, rule: &Node, v4: &str, v6: &str, protocol_key: &str) -> Fact {
        let protocol = Node::known_str(rule.get(protocol_key)).map(|p| normalise_protocol(&p));
        let ports = Ports::from_rule(
            &protocol,
            &Node::known_i64(rule.get("from_port")),
            &Node::known_i64(rule.get("to_port")),
        );
        let mut cidrs = Vec::new();
        for key in [v4, v6] {
            if let Some(node) = rule.get(key) {
                match &node.value {
                    Value::Unknown(u) => cidrs.push(Known::Unknown(u.origin.clone())),
                    _ => cidrs.extend(
                        node.items()
                            .iter()
                            .map(|c| Node::known_str(Some(c)))
                            .filter(|c| !c.is_absent()),
                    ),
                }
            }
        }
        Fact::Ingress(Ingress {
            at: at.clone(),
            protocol,
            ports,
            cidrs,
        })
    }

    fn task_definition(&mut self, site: &Site, body: &Node) {
        let mut props = Vec::new();
        for (terraform, api) in [
            ("network_mode", "networkMode"),
            ("requires_compatibilities", "requiresCompatibilities"),
        ] {
            if let Some(node) = body.get(terraform) {
                props.push(Entry {
                    key: api.into(),
                    key_line: node.span.line,
                    value: node.clone(),
                });
            }
        }
        let props = Node::new(Value::Map(props), body.span);
        // Containers that cannot be read (a file() or templatefile() call) are left out
        // rather than read as empty containers, which every container rule would flag.
        // The same goes for a container given by an expression (`[local.sidecar, {...}]`).
        let containers = body
            .get("container_definitions")
            .and_then(|node| self.json_document(node, "container_definitions"))
            .map(|doc| match doc.value {
                Value::List(items) => Node::new(
                    Value::List(
                        items
                            .into_iter()
                            .filter(|c| matches!(c.value, Value::Map(_)))
                            .collect(),
                    ),
                    doc.span,
                ),
                _ => Node::new(Value::List(Vec::new()), doc.span),
            })
            .unwrap_or_else(|| Node::new(Value::List(Vec::new()), body.span));
        let fact = ecs::task_definition_from_node(site.clone(), &props, Some(&containers));
        self.push(Fact::EcsTaskDefinition(fact));
    }

    fn ecr_repository(&mut self, site: &Site, body: &Node) {
        let scanning = body.get("image_scanning_configuration").and_then(first_map);
        let encryption = body.get("encryption_configuration").and_then(first_map);
        let upper = |k: Known<String>| k.map(|s| s.to_ascii_uppercase());
        let tag_mutability = match upper(Node::known_str(body.get("image_tag_mutability"))) {
            Known::Absent => Known::Value("MUTABLE".into()),
            other => other,
        };
        self.push(Fact::EcrRepository(EcrRepository {
            at: site.clone(),
            scan_on_push: Node::known_bool(scanning.and_then(|s| s.get("scan_on_push"))),
            tag_mutability,
            encryption_type: upper(Node::known_str(
                encryption.and_then(|e| e.get("encryption_type")),
            )),
        }));
    }

    fn encryption(&mut self, site: &Site, body: &Node, what: EncryptedKind, key: &str) {
        let managed_sse = if what == EncryptedKind::Queue {
            Node::known_bool(body.get("sqs_managed_sse_enabled"))
        } else {
            Known::Absent
        };
        self.push(Fact::Encryption(Encryption {
            at: site.clone(),
            what,
            kms_key: Node::known_str(body.get(key)),
            managed_sse,
        }));
    }

    /// A policy attribute: a document read in place, or a reference to an
    /// `aws_iam_policy_document` in this file, which is then read at the data block (once,
    /// with the kind it is used as).
    fn policy(&mut self, site: &Site, node: &Node, kind: PolicyKind) {
        if let Value::Unknown(u) = &node.value
            && let Some(name) = policy_document_reference(&u.origin)
        {
            let kinds = self.document_kinds.entry(name.to_string()).or_default();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
            return;
        }
        if let Some(doc) = self.json_document(node, "policy") {
            let policy = iam::policy_from_node(site.at(node.span), kind, &doc);
            self.push(Fact::Policy(policy));
        }
    }

    fn policy_document(&mut self, block: &TfBlock) {
        let name = block.label(1).to_string();
        let site = self.site(block.address(), block);
        let doc = document_from_data_block(&block.body);
        let kinds = self
            .document_kinds
            .get(&name)
            .cloned()
            .unwrap_or_else(|| vec![kind_by_content(&doc)]);
        for kind in kinds {
            let policy = iam::policy_from_node(site.clone(), kind, &doc);
            self.push(Fact::Policy(policy));
        }
    }

    /// A JSON document given as a structure (`jsonencode({...})`), a JSON string (literal or
    /// heredoc), or a template whose interpolations sit inside JSON strings (those strings
    /// become unknown, the rest stays readable). `None` for anything else.
    fn json_document(&mut self, node: &Node, what: &str) -> Option<Node> {
        match &node.value {
            Value::Map(_) | Value::List(_) => Some(node.clone()),
            Value::String(text) => {
                let first_line = self.heredoc_body_line(node.span);
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(json) => Some(self.located_json(text, &json, first_line, node.span)),
                    Err(error) => {
                        // serde_json counts lines from the heredoc's first line.
                        let line = first_line
                            .map(|first| {
                                let offset = u32::try_from(error.line()).unwrap_or(u32::MAX);
                                first.saturating_add(offset).saturating_sub(1)
                            })
                            .filter(|&line| line <= node.span.end_line)
                            .unwrap_or(node.span.line);
                        self.parsed.errors.push(ScanError {
                            file: self.file.path.to_string(),
                            line,
                            message: format!("{what} is not valid JSON: {error}"),
                        });
                        None
                    }
                }
            }
            Value::Unknown(u) => {
                let (text, json, expressions) = json_template(&u.origin)?;
                let first_line = self.heredoc_body_line(node.span);
                let located = self.located_json(&text, &json, first_line, node.span);
                Some(unmark(located, &expressions))
            }
            _ => None,
        }
    }

    /// The line a heredoc's text starts on, if the attribute at `span` is `key = <<EOF`.
    fn heredoc_body_line(&self, span: Span) -> Option<u32> {
        let line = self.file.line_text(span.line);
        let (_, marker) = line.rsplit_once("<<")?;
        let marker = marker.trim_start_matches('-').trim_end();
        let is_heredoc = !marker.is_empty()
            && marker
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        (is_heredoc && span.end_line > span.line).then_some(span.line + 1)
    }

    /// JSON text already known to be valid, as a tree with the file's lines when it is the
    /// text of a heredoc (whose lines are the file's), else with the attribute's lines.
    fn located_json(
        &self,
        text: &str,
        json: &serde_json::Value,
        first_line: Option<u32>,
        span: Span,
    ) -> Node {
        if let Some(first) = first_line {
            // Blank lines in front put the text at its place in the file for the line-aware
            // JSON reader; its tree is used only if it reads the same document.
            let padded = format!("{}{text}", "\n".repeat(first.saturating_sub(1) as usize));
            if let Ok(node) = json::load(&SourceFile::new(self.file.path.clone(), padded))
                && node.to_json() == *json
            {
                return node;
            }
        }
        from_serde(json, span)
    }

    fn literal(
        &mut self,
        site: &Site,
        span: Span,
        context: LiteralContext,
        name: &str,
        value: &str,
    ) {
        self.push(Fact::Literal(Literal {
            at: site.at(span),
            context,
            name: name.to_string(),
            value: value.to_string(),
        }));
    }

    /// Literal strings under attribute names that say they hold a secret, anywhere in the
    /// body except under attributes a specific extractor already read.
    fn secret_named_attributes(&mut self, site: &Site, body: &Node, handled: &[&str]) {
        let mut found = Vec::new();
        for entry in body.entries() {
            if handled.contains(&entry.key.as_str())
                || entry.key == "tags"
                || entry.key == "tags_all"
            {
                continue;
            }
            // Walked from a one-entry map so that the attribute's own name is the key of its
            // value (and of a list's items).
            let wrapper = Node::new(Value::Map(vec![entry.clone()]), entry.value.span);
            wrapper.walk(&mut |key, node| {
                if let (Some(key), Value::String(value)) = (key, &node.value)
                    && !value.is_empty()
                    && secret_like_name(key)
                {
                    found.push((key.to_string(), value.clone(), node.span));
                }
            });
        }
        for (key, value, span) in found {
            self.literal(site, span, LiteralContext::Attribute, &key, &value);
        }
    }

    fn variable(&mut self, block: &TfBlock) {
        let name = block.label(0).to_string();
        let body = &block.body;
        let default = body.get("default");
        let site = self.site(format!("var.{name}"), block);
        let hidden = match Node::known_bool(body.get("sensitive")) {
            Known::Absent => Known::Value(false),
            other => other,
        };
        self.push(Fact::Parameter(Parameter {
            at: site.at(default.map(|d| d.span).unwrap_or(block.span)),
            name,
            hidden,
            default: Node::known_str(default),
        }));
    }
}

fn nacl_entry(at: &Site, rule: &Node, egress: Known<bool>, action_key: &str) -> Fact {
    let protocol = Node::known_str(rule.get("protocol")).map(|p| normalise_protocol(&p));
    let ports = Ports::from_rule(
        &protocol,
        &Node::known_i64(rule.get("from_port")),
        &Node::known_i64(rule.get("to_port")),
    );
    let cidr = match Node::known_str(rule.get("cidr_block")) {
        Known::Absent => Node::known_str(rule.get("ipv6_cidr_block")),
        other => other,
    };
    Fact::NetworkAclEntry(NetworkAclEntry {
        at: at.clone(),
        egress,
        action: Node::known_str(rule.get(action_key)).map(|a| a.to_ascii_lowercase()),
        protocol,
        ports,
        cidr,
    })
}

/// The blocks (or objects, in JSON syntax) under `key`. An expression in their place
/// (`ingress = var.rules`) is not evaluated and yields none.
fn nested_blocks<'a>(body: &'a Node, key: &str) -> impl Iterator<Item = &'a Node> {
    body.get(key)
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter(|n| matches!(n.value, Value::Map(_)))
}

fn is_literal(node: Option<&Node>, expected: &str) -> bool {
    node.and_then(Node::as_str) == Some(expected)
}

/// The first map of a block that may be repeated (`network_configuration {}`), or given as
/// a one-element list in JSON syntax.
fn first_map(node: &Node) -> Option<&Node> {
    node.items()
        .iter()
        .find(|n| matches!(n.value, Value::Map(_)))
}

/// What a flow log's `vpc_id` names: a resource reference is known by its source text
/// (`aws_vpc.main.id`), so that it can be matched with the VPC; a variable, local or
/// computed expression is unknown.
fn flow_log_target(vpc: Option<&Node>) -> Known<String> {
    match vpc.map(|n| &n.value) {
        None | Some(Value::Null) => Known::Absent,
        Some(Value::Unknown(u)) => {
            let origin = u.origin.as_str();
            let plain_reference = origin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.[]*\"".contains(c));
            let indirect = ["var.", "local.", "module.", "data."]
                .iter()
                .any(|p| origin.starts_with(p));
            if plain_reference && !indirect {
                Known::Value(origin.to_string())
            } else {
                Known::Unknown(origin.to_string())
            }
        }
        Some(_) => Node::known_str(vpc),
    }
}

/// The kind of a policy document whose use is not in this file, judged by its content: an
/// identity policy cannot name principals; a policy with principals that only grants
/// `sts:AssumeRole*` is a trust policy, any other is a resource policy.
fn kind_by_content(doc: &Node) -> PolicyKind {
    let statements = doc.get("Statement").map(Node::items).unwrap_or_default();
    let has_principals = statements
        .iter()
        .any(|st| st.get("Principal").is_some() || st.get("NotPrincipal").is_some());
    if !has_principals {
        return PolicyKind::Identity;
    }
    let only_assume_role = statements.iter().all(|st| {
        st.get("Action").is_some_and(|actions| {
            actions.items().iter().all(|a| {
                a.as_str()
                    .is_some_and(|a| a.to_ascii_lowercase().starts_with("sts:assumerole"))
            })
        })
    });
    if only_assume_role {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    }
}

/// `data.aws_iam_policy_document.NAME.json` (or `NAME[0].json`, `NAME["k"].json` for a
/// counted or iterated document) -> `NAME`.
fn policy_document_reference(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("data.aws_iam_policy_document.")?;
    let rest = rest.strip_suffix(".json")?;
    let name = match rest.split_once('[') {
        Some((name, index)) if index.ends_with(']') && !index.contains('.') => name,
        Some(_) => return None,
        None => rest,
    };
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        .then_some(name)
}

/// A literal string, or `base64encode("literal")` (user data is often wrapped in it).
fn literal_through_base64(node: &Node) -> Option<String> {
    match &node.value {
        Value::String(s) => Some(s.clone()),
        Value::Unknown(u) => {
            let args = hcl::call_arguments(&u.origin, "base64encode", node.span)?;
            match args.as_slice() {
                [
                    Node {
                        value: Value::String(s),
                        ..
                    },
                ] => Some(s.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A literal string, or a fully known structure (`jsonencode({...})`) as its JSON text.
fn fully_known_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::String(s) => Some(s.clone()),
        Value::Map(_) | Value::List(_) => {
            let mut known = true;
            node.walk(&mut |_, n| known &= !n.is_unknown());
            known.then(|| node.to_json().to_string())
        }
        _ => None,
    }
}

/// Marks an interpolation inside JSON text; a NUL cannot occur in a Terraform string.
const MARK: char = '\u{0}';

/// Reads a template (`<<EOF ... ${aws_s3_bucket.b.arn} ... EOF`) as JSON whose interpolated
/// strings are marked (see [`unmark`]): the marked text, its JSON, and the interpolated
/// expressions. `None` when an interpolation is not inside a JSON string, or the text is not
/// JSON.
fn json_template(origin: &str) -> Option<(String, serde_json::Value, Vec<String>)> {
    let pieces = hcl::template_pieces(origin)?;
    let mut text = String::new();
    let mut expressions = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(l) => text.push_str(&l),
            Piece::Interpolation(expr) => {
                text.push(MARK);
                text.push_str(&expressions.len().to_string());
                text.push(MARK);
                expressions.push(expr);
            }
        }
    }
    // A NUL is a control character, invalid unescaped in a JSON string: escape it so that the
    // parser keeps it, and recognise it in the parsed strings.
    let escaped = text.replace(MARK, "\\u0000");
    let json: serde_json::Value = serde_json::from_str(&escaped).ok()?;
    Some((escaped, json, expressions))
}

fn unmark(node: Node, expressions: &[String]) -> Node {
    let span = node.span;
    match node.value {
        Value::String(s) if s.contains(MARK) => {
            let origin = s
                .split(MARK)
                .enumerate()
                .map(|(i, part)| {
                    // Odd parts are marker numbers.
                    if i % 2 == 1 {
                        let expr = part
                            .parse::<usize>()
                            .ok()
                            .and_then(|n| expressions.get(n))
                            .map(String::as_str)
                            .unwrap_or("...");
                        format!("${{{expr}}}")
                    } else {
                        part.to_string()
                    }
                })
                .collect::<String>();
            // `"${aws_s3_bucket.b.arn}"` is named by its expression alone.
            let origin = origin
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|inner| !inner.contains("${"))
                .map(str::to_string)
                .unwrap_or(origin);
            Node::unknown(origin, span)
        }
        Value::List(items) => Node::new(
            Value::List(items.into_iter().map(|n| unmark(n, expressions)).collect()),
            span,
        ),
        Value::Map(entries) => Node::new(
            Value::Map(
                entries
                    .into_iter()
                    .map(|e| Entry {
                        key: e.key,
                        key_line: e.key_line,
                        value: unmark(e.value, expressions),
                    })
                    .collect(),
            ),
            span,
        ),
        value => Node::new(value, span),
    }
}

/// An `aws_iam_policy_document` data block as the JSON policy it renders, so that the shared
/// IAM reader applies: `statement` blocks become `Statement` entries with the JSON names.
fn document_from_data_block(body: &Node) -> Node {
    let statements = body
        .get("statement")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .map(statement_from_block)
        .collect();
    let list_span = body.get("statement").map(|s| s.span).unwrap_or(body.span);
    Node::new(
        Value::Map(vec![entry(
            "Statement",
            Node::new(Value::List(statements), list_span),
        )]),
        body.span,
    )
}

fn entry(key: &str, value: Node) -> Entry {
    Entry {
        key: key.into(),
        key_line: value.span.line,
        value,
    }
}

fn statement_from_block(block: &Node) -> Node {
    if block.is_unknown() {
        return block.clone();
    }
    let mut entries = Vec::new();
    for (terraform, json) in [
        ("sid", "Sid"),
        ("actions", "Action"),
        ("not_actions", "NotAction"),
        ("resources", "Resource"),
        ("not_resources", "NotResource"),
    ] {
        if let Some(node) = block.get(terraform) {
            entries.push(entry(json, node.clone()));
        }
    }
    // The data source's effect defaults to Allow.
    let effect = block
        .get("effect")
        .cloned()
        .unwrap_or_else(|| Node::string("Allow", block.span));
    entries.push(entry("Effect", effect));
    for (terraform, json) in [
        ("principals", "Principal"),
        ("not_principals", "NotPrincipal"),
    ] {
        if let Some(principals) = block.get(terraform) {
            entries.push(entry(json, principals_from_blocks(principals)));
        }
    }
    if let Some(conditions) = block.get("condition") {
        entries.push(entry("Condition", conditions_from_blocks(conditions)));
    }
    Node::new(Value::Map(entries), block.span)
}

/// `principals { type = "AWS" identifiers = [...] }` blocks -> `{"AWS": [...]}`, several
/// blocks of one type merged.
fn principals_from_blocks(blocks: &Node) -> Node {
    let mut by_type: Vec<Entry> = Vec::new();
    for block in blocks.items() {
        let kind = match Node::known_str(block.get("type")) {
            Known::Value(k) => k,
            Known::Unknown(origin) => origin,
            Known::Absent => continue,
        };
        let identifiers = block
            .get("identifiers")
            .cloned()
            .unwrap_or_else(|| Node::new(Value::List(Vec::new()), block.span));
        let new_items = match identifiers.value {
            Value::List(items) => items,
            other => vec![Node::new(other, identifiers.span)],
        };
        match by_type.iter_mut().find(|e| e.key == kind) {
            Some(existing) => {
                if let Value::List(items) = &mut existing.value.value {
                    items.extend(new_items);
                }
            }
            None => by_type.push(entry(&kind, Node::new(Value::List(new_items), block.span))),
        }
    }
    Node::new(Value::Map(by_type), blocks.span)
}

/// `condition { test = "StringEquals" variable = "k" values = [...] }` blocks ->
/// `{"StringEquals": {"k": [...]}}`.
fn conditions_from_blocks(blocks: &Node) -> Node {
    let mut by_test: Vec<Entry> = Vec::new();
    for block in blocks.items() {
        let (Some(test), Some(variable)) = (
            block.get("test").and_then(Node::as_str),
            block.get("variable").and_then(Node::as_str),
        ) else {
            continue;
        };
        let values = block
            .get("values")
            .cloned()
            .unwrap_or_else(|| Node::new(Value::List(Vec::new()), block.span));
        let condition = entry(variable, values);
        match by_test.iter_mut().find(|e| e.key == test) {
            Some(existing) => {
                if let Value::Map(entries) = &mut existing.value.value {
                    entries.push(condition);
                }
            }
            None => by_test.push(entry(
                test,
                Node::new(Value::Map(vec![condition]), block.span),
            )),
        }
    }
    Node::new(Value::Map(by_test), blocks.span)
}

/// Whether an attribute name may hold a secret (`password`, `master_password`,
/// `client_secret`, `api_key`, `access_key`, `*_key`…), so that its literal value becomes a
/// fact. Deliberately broad: the secret rules judge the name again with their own, stricter
/// test. Names of things *about* a secret (its ARN, id, name, length, version, rotation)
/// are left out here already.
pub(super) fn secret_like_name(name: &str) -> bool {
    const SECRET_WORDS: [&str; 8] = [
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "credential",
    ];
    const ABOUT_A_SECRET: [&str; 18] = [
        "_arn",
        "_id",
        "_ids",
        "_name",
        "_names",
        "_length",
        "_version",
        "_path",
        "_ttl",
        "_type",
        "_enabled",
        "_policy",
        "_file",
        "_rotation",
        "_required",
        "_count",
        "_permissions",
        "_permission",
    ];
    let lower = name.to_ascii_lowercase();
    // `api_key`, `private_key`, `access_key`, `storage_account_key`; a bare `key` (the S3
    // backend's object key) names no secret.
    let qualified_key = lower.len() > 3 && (lower.ends_with("key") || lower.ends_with("keys"));
    (qualified_key || SECRET_WORDS.iter().any(|w| lower.contains(w)))
        && !ABOUT_A_SECRET.iter().any(|s| lower.ends_with(s))
        && !lower.starts_with("kms")
}
