//! CloudFormation (and SAM) templates, in YAML or JSON, into facts.
//!
//! The YAML loader has already turned short-form tags into the long form, so this module sees
//! one shape. Intrinsic functions (`{Ref: X}`, `{Fn::...: ...}`) are evaluated by
//! [`crate::formats::intrinsics`] where the template decides them (parameters, mappings,
//! conditions); the rest become unknown values (`!GetAtt Db.Arn`), so no rule reports on
//! them. The raw tree is kept where structure matters (the flow log's `Ref` target, user data
//! built with `Fn::Base64`/`Fn::Join`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::finding::ScanError;
use crate::formats::intrinsics::Evaluator;
use crate::formats::{Parsed, ecs, iam, json};
use crate::model::{
    CloudTrail, EcrRepository, EncryptedKind, Encryption, Fact, FlowLog, Ingress, Known, Literal,
    LiteralContext, LogGroup, NetworkAclEntry, Node, Parameter, PolicyKind, Ports, PublicIp, Site,
    Vpc, normalise_protocol,
};
use crate::node::{Entry, Span, Value};
use crate::rules::Format;
use crate::source::SourceFile;
use crate::suppress::Suppression;

const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Whether a document is a CloudFormation template: `AWSTemplateFormatVersion`, the SAM
/// transform, or a `Resources` map whose entries all have `Type`s like `AWS::S3::Bucket`.
pub fn is_template(doc: &Node) -> bool {
    if !matches!(doc.value, Value::Map(_)) {
        return false;
    }
    if doc.get("AWSTemplateFormatVersion").is_some() {
        return true;
    }
    let sam = doc.get("Transform").is_some_and(|t| {
        t.items()
            .iter()
            .any(|item| item.as_str() == Some(SAM_TRANSFORM))
    });
    if sam {
        return true;
    }
    let Some(resources) = doc.get("Resources") else {
        return false;
    };
    let entries = resources.entries();
    !entries.is_empty()
        && entries.iter().all(|e| {
            e.value
                .get("Type")
                .and_then(Node::as_str)
                .is_some_and(|t| t.contains("::"))
        })
        && entries.iter().any(|e| {
            e.value
                .get("Type")
                .and_then(Node::as_str)
                .is_some_and(|t| t.starts_with("AWS::"))
        })
}

/// Every fact of a template, with its intrinsics evaluated over the parameters (`given`
/// values first, then defaults), mappings and conditions.
pub fn extract(file: &SourceFile, doc: &Node, given: &BTreeMap<String, String>) -> Parsed {
    let mut out = Parsed::new(Format::CloudFormation);
    let evaluator = Evaluator::new(doc, given);
    let path = &file.path;
    if let Some(parameters) = doc.get("Parameters") {
        parameters_facts(path, parameters, &mut out.facts);
    }
    let Some(resources) = doc.get("Resources") else {
        return out;
    };
    let Value::Map(entries) = &resources.value else {
        out.errors.push(error(
            file,
            resources.line(),
            "`Resources` must be a map of logical ids to resources",
        ));
        return out;
    };
    for entry in entries {
        // `Fn::ForEach::Name` (the language extensions transform) generates resources from a
        // template fragment; they are not known until the transform runs.
        if entry.key.starts_with("Fn::ForEach") {
            continue;
        }
        let resource = &entry.value;
        let span = Span::new(entry.key_line, resource.span.end_line);
        if !matches!(resource.value, Value::Map(_)) {
            out.errors.push(error(
                file,
                entry.key_line,
                format!("resource {} must be a map with a `Type`", entry.key),
            ));
            continue;
        }
        let Some(kind) = resource.get("Type").and_then(Node::as_str) else {
            out.errors.push(error(
                file,
                entry.key_line,
                format!("resource {} has no `Type`", entry.key),
            ));
            continue;
        };
        let site = Site {
            file: path.clone(),
            resource: entry.key.clone(),
            span,
            resource_span: span,
        };
        if let Some(metadata) = resource.get("Metadata") {
            suppressions(path, metadata, span, &mut out.suppressions);
        }
        // A resource whose condition is false is not created.
        let condition = resource.get("Condition").and_then(Node::as_str);
        if condition.is_some_and(|c| evaluator.condition(c) == Some(false)) {
            continue;
        }
        let raw = resource
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Node::new(Value::Map(Vec::new()), Span::line(entry.key_line)));
        let props = evaluator.eval(&raw);
        // Properties chosen by an expression (`Properties: !If [...]`) are unknown as a whole:
        // reading them would take every setting for absent.
        let needs_props = !matches!(kind, "AWS::EC2::VPC" | "AWS::IAM::AccessKey");
        if props.is_unknown() && needs_props {
            continue;
        }
        let resource = Resource {
            kind,
            site: &site,
            raw: &raw,
            props: &props,
        };
        resource_facts(file, kind, &resource, &mut out);
        secret_named_literals(&site, &props, kind, &mut out.facts);
    }
    out.notes = evaluator.take_notes();
    out
}

fn error(file: &SourceFile, line: u32, message: impl Into<String>) -> ScanError {
    ScanError {
        file: file.path.to_string(),
        line,
        message: message.into(),
    }
}

/// One resource: its site, its properties as written, and the same with intrinsics made
/// unknown.
struct Resource<'a> {
    /// The resource type, `AWS::ECR::Repository`.
    kind: &'a str,
    site: &'a Site,
    raw: &'a Node,
    props: &'a Node,
}

impl Resource<'_> {
    fn at(&self, node: Option<&Node>) -> Site {
        self.site.at(node.map_or(self.site.span, |n| n.span))
    }
}

fn resource_facts(file: &SourceFile, kind: &str, r: &Resource<'_>, out: &mut Parsed) {
    let facts = &mut out.facts;
    let props = r.props;
    match kind {
        "AWS::EC2::SecurityGroup" => {
            if let Some(rules) = props.get("SecurityGroupIngress") {
                for rule in rules.items().iter().filter(|n| !n.is_unknown()) {
                    facts.push(Fact::Ingress(ingress(r.site.at(rule.span), rule)));
                }
            }
        }
        "AWS::EC2::SecurityGroupIngress" => {
            facts.push(Fact::Ingress(ingress(r.site.clone(), props)));
        }
        "AWS::EC2::NetworkAclEntry" => {
            let protocol = Node::known_str(props.get("Protocol")).map(|p| normalise_protocol(&p));
            let ports = Ports::from_rule(
                &protocol,
                &Node::known_i64(props.path(&["PortRange", "From"])),
                &Node::known_i64(props.path(&["PortRange", "To"])),
            );
            let cidr = match props.get("CidrBlock") {
                Some(block) => Node::known_str(Some(block)),
                None => Node::known_str(props.get("Ipv6CidrBlock")),
            };
            let egress = match Node::known_bool(props.get("Egress")) {
                // An entry is an ingress entry unless it says otherwise.
                Known::Absent => Known::Value(false),
                other => other,
            };
            facts.push(Fact::NetworkAclEntry(NetworkAclEntry {
                at: r.site.clone(),
                egress,
                action: Node::known_str(props.get("RuleAction")).map(|a| a.to_ascii_lowercase()),
                protocol,
                ports,
                cidr,
            }));
        }
        "AWS::ECS::Service" | "AWS::ECS::TaskSet" => {
            let node = props.path(&[
                "NetworkConfiguration",
                "AwsvpcConfiguration",
                "AssignPublicIp",
            ]);
            let assign = Node::known_str(node).and_then(
                |v| match v.to_ascii_uppercase().as_str() {
                    "ENABLED" => Some(true),
                    "DISABLED" => Some(false),
                    _ => None,
                },
                "AssignPublicIp",
            );
            facts.push(Fact::PublicIp(PublicIp {
                at: r.at(node),
                what: if kind == "AWS::ECS::Service" {
                    "ECS service".into()
                } else {
                    "ECS task set".into()
                },
                assign_public_ip: assign,
            }));
        }
        "AWS::ECS::TaskDefinition" => {
            let task = ecs::task_definition_from_node(r.site.clone(), props, None);
            facts.extend(ecs::environment_literals(&task));
            facts.push(Fact::EcsTaskDefinition(task));
        }
        "AWS::ECR::Repository" => {
            facts.push(Fact::EcrRepository(EcrRepository {
                at: r.site.clone(),
                scan_on_push: Node::known_bool(
                    props.path(&["ImageScanningConfiguration", "ScanOnPush"]),
                ),
                tag_mutability: match Node::known_str(props.get("ImageTagMutability")) {
                    Known::Absent => Known::Value("MUTABLE".into()),
                    other => other.map(|m| m.to_ascii_uppercase()),
                },
                encryption_type: Node::known_str(
                    props.path(&["EncryptionConfiguration", "EncryptionType"]),
                )
                .map(|t| t.to_ascii_uppercase()),
            }));
            policy(file, r, "RepositoryPolicyText", PolicyKind::Resource, out);
        }
        "AWS::IAM::Role" => {
            policy(file, r, "AssumeRolePolicyDocument", PolicyKind::Trust, out);
            inline_policies(file, r, out);
        }
        "AWS::IAM::User" | "AWS::IAM::Group" => inline_policies(file, r, out),
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
            policy(file, r, "PolicyDocument", PolicyKind::Identity, out);
        }
        "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
            policy(file, r, "PolicyDocument", PolicyKind::Resource, out);
        }
        "AWS::KMS::Key" => policy(file, r, "KeyPolicy", PolicyKind::Resource, out),
        "AWS::Elasticsearch::Domain" | "AWS::OpenSearchService::Domain" => {
            policy(file, r, "AccessPolicies", PolicyKind::Resource, out);
        }
        "AWS::IAM::AccessKey" => facts.push(Fact::IamAccessKey(r.site.clone())),
        "AWS::SecretsManager::Secret" => {
            facts.push(encryption(r, EncryptedKind::Secret, "KmsKeyId"));
            if let Some(value) = props.get("SecretString")
                && let Value::String(text) = &value.value
            {
                facts.push(literal(
                    r.site.at(value.span),
                    LiteralContext::SecretString,
                    "SecretString",
                    text,
                ));
            }
        }
        "AWS::SNS::Topic" => facts.push(encryption(r, EncryptedKind::Topic, "KmsMasterKeyId")),
        "AWS::SQS::Queue" => facts.push(encryption(r, EncryptedKind::Queue, "KmsMasterKeyId")),
        "AWS::Logs::LogGroup" => facts.push(Fact::LogGroup(LogGroup {
            at: r.site.clone(),
            retention_days: Node::known_i64(props.get("RetentionInDays")),
        })),
        "AWS::EC2::VPC" => facts.push(Fact::Vpc(Vpc {
            at: r.site.clone(),
            names: vec![r.site.resource.clone()],
        })),
        "AWS::EC2::FlowLog" => {
            let target = r.raw.get("ResourceId");
            facts.push(Fact::FlowLog(FlowLog {
                at: r.site.clone(),
                target: match target {
                    None => Known::Absent,
                    Some(node) => match node.get("Ref").and_then(Node::as_str) {
                        Some(name) if node.entries().len() == 1 => Known::Value(name.into()),
                        _ => Known::Unknown(describe_intrinsic(node)),
                    },
                },
            }));
        }
        "AWS::CloudTrail::Trail" => facts.push(Fact::CloudTrail(CloudTrail {
            at: r.site.clone(),
            multi_region: Node::known_bool(props.get("IsMultiRegionTrail")),
            log_file_validation: Node::known_bool(props.get("EnableLogFileValidation")),
        })),
        "AWS::Lambda::Function" | "AWS::Serverless::Function" => {
            if let Some(variables) = props.path(&["Environment", "Variables"]) {
                for entry in variables.entries() {
                    if let Value::String(text) = &entry.value.value {
                        facts.push(literal(
                            r.site.at(entry.value.span),
                            LiteralContext::LambdaEnvironment,
                            &entry.key,
                            text,
                        ));
                    }
                }
            }
        }
        "AWS::EC2::Instance" => {
            user_data(r, r.raw.get("UserData"), facts);
            interface_public_ips(r, props.get("NetworkInterfaces"), "EC2 instance", facts);
        }
        "AWS::AutoScaling::LaunchConfiguration" => {
            user_data(r, r.raw.get("UserData"), facts);
            if let Some(node) = props.get("AssociatePublicIpAddress") {
                facts.push(Fact::PublicIp(PublicIp {
                    at: r.at(Some(node)),
                    what: "launch configuration".into(),
                    assign_public_ip: Node::known_bool(Some(node)),
                }));
            }
        }
        "AWS::EC2::LaunchTemplate" => {
            user_data(r, r.raw.path(&["LaunchTemplateData", "UserData"]), facts);
            let interfaces = props.path(&["LaunchTemplateData", "NetworkInterfaces"]);
            interface_public_ips(r, interfaces, "launch template", facts);
        }
        _ => {}
    }
}

/// Network interfaces that say whether they get a public IP. When they do not say, the
/// subnet decides, which is not this resource's doing: no fact.
fn interface_public_ips(
    r: &Resource<'_>,
    interfaces: Option<&Node>,
    what: &str,
    facts: &mut Vec<Fact>,
) {
    for interface in interfaces.map(Node::items).unwrap_or_default() {
        if let Some(node) = interface.get("AssociatePublicIpAddress") {
            facts.push(Fact::PublicIp(PublicIp {
                at: r.at(Some(node)),
                what: what.into(),
                assign_public_ip: Node::known_bool(Some(node)),
            }));
        }
    }
}

fn ingress(at: Site, rule: &Node) -> Ingress {
    let protocol = Node::known_str(rule.get("IpProtocol")).map(|p| normalise_protocol(&p));
    let ports = Ports::from_rule(
        &protocol,
        &Node::known_i64(rule.get("FromPort")),
        &Node::known_i64(rule.get("ToPort")),
    );
    let cidrs = ["CidrIp", "CidrIpv6"]
        .iter()
        .filter_map(|key| rule.get(key))
        .map(|node| Node::known_str(Some(node)))
        .filter(|cidr| !cidr.is_absent())
        .collect();
    Ingress {
        at,
        protocol,
        ports,
        cidrs,
    }
}

fn encryption(r: &Resource<'_>, what: EncryptedKind, key: &str) -> Fact {
    Fact::Encryption(Encryption {
        at: r.site.clone(),
        what,
        kms_key: Node::known_str(r.props.get(key)),
        managed_sse: match what {
            EncryptedKind::Queue => Node::known_bool(r.props.get("SqsManagedSseEnabled")),
            _ => Known::Absent,
        },
    })
}

fn literal(at: Site, context: LiteralContext, name: &str, value: &str) -> Fact {
    Fact::Literal(Literal {
        at,
        context,
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// A policy document under `key`: a map, or a JSON string (which CloudFormation accepts).
fn policy(file: &SourceFile, r: &Resource<'_>, key: &str, kind: PolicyKind, out: &mut Parsed) {
    if let Some(doc) = r.props.get(key) {
        policy_document(file, r, doc, kind, out);
    }
}

fn policy_document(
    file: &SourceFile,
    r: &Resource<'_>,
    doc: &Node,
    kind: PolicyKind,
    out: &mut Parsed,
) {
    let at = r.site.at(doc.span);
    // A resource policy governs the resource it is written on (a repository's
    // RepositoryPolicyText) or the one its policy resource names (AWS::S3::BucketPolicy);
    // the resource type is what rules need to tell them apart.
    let attached_to = (kind == PolicyKind::Resource).then(|| r.kind.to_string());
    let mut push = |node: &Node| {
        let mut policy = iam::policy_from_node(at.clone(), kind, node);
        policy.attached_to = attached_to.clone();
        out.facts.push(Fact::Policy(policy));
    };
    match &doc.value {
        Value::Map(_) => push(doc),
        Value::String(text) => match json::load_str(text, &file.path, doc.line()) {
            Ok(parsed) => push(&parsed),
            Err(e) => out.errors.push(e),
        },
        // `!Ref PolicyParameter`, `!If [...]`: one unknown statement (see policy_from_node).
        Value::Unknown(_) => push(doc),
        _ => {}
    }
}

/// `Policies: [{PolicyName, PolicyDocument}]` of a role, user or group.
fn inline_policies(file: &SourceFile, r: &Resource<'_>, out: &mut Parsed) {
    if let Some(policies) = r.props.get("Policies") {
        for item in policies.items() {
            if let Some(doc) = item.get("PolicyDocument") {
                policy_document(file, r, doc, PolicyKind::Identity, out);
            }
        }
    }
}

/// User data whose text is known: a literal, or `Fn::Base64` / `Fn::Sub` without
/// substitutions / `Fn::Join` of known parts around one.
fn user_data(r: &Resource<'_>, raw: Option<&Node>, facts: &mut Vec<Fact>) {
    let Some(raw) = raw else { return };
    if let Some(text) = known_text(raw, 0) {
        facts.push(literal(
            r.site.at(raw.span),
            LiteralContext::UserData,
            "UserData",
            &text,
        ));
    }
}

fn known_text(node: &Node, depth: usize) -> Option<String> {
    if depth > 32 {
        return None;
    }
    match &node.value {
        Value::String(text) if is_dynamic_reference(text) => None,
        Value::String(text) => Some(text.clone()),
        Value::Map(entries) if entries.len() == 1 => {
            let entry = entries.first()?;
            let argument = &entry.value;
            match entry.key.as_str() {
                "Fn::Base64" => known_text(argument, depth + 1),
                "Fn::Sub" => {
                    let template = match &argument.value {
                        Value::List(items) => items.first()?,
                        _ => argument,
                    };
                    let text = template.as_str()?;
                    (!text.contains("${") && !is_dynamic_reference(text)).then(|| text.to_string())
                }
                "Fn::Join" => {
                    let [separator, parts] = argument.items() else {
                        return None;
                    };
                    let separator = separator.as_str()?;
                    let Value::List(parts) = &parts.value else {
                        return None;
                    };
                    let parts = parts
                        .iter()
                        .map(|p| known_text(p, depth + 1))
                        .collect::<Option<Vec<_>>>()?;
                    Some(parts.join(separator))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Parameter facts, and a literal fact for each literal default.
fn parameters_facts(path: &Arc<str>, parameters: &Node, facts: &mut Vec<Fact>) {
    for entry in parameters.entries() {
        let span = Span::new(entry.key_line, entry.value.span.end_line);
        let site = Site::new(path, entry.key.clone(), span);
        let default = entry.value.get("Default");
        let kind = entry.value.get("Type").and_then(Node::as_str).unwrap_or("");
        // The default of an SSM parameter type is the name of a parameter, not a value.
        let default_known = match Node::known_str(default) {
            Known::Value(name) if kind.starts_with("AWS::SSM::Parameter::") => {
                Known::Unknown(format!("SSM parameter {name}"))
            }
            Known::Value(text) if is_dynamic_reference(&text) => Known::Unknown(text),
            other => other,
        };
        if let (Some(node), Known::Value(text)) = (default, &default_known) {
            facts.push(literal(
                site.at(node.span),
                LiteralContext::Default,
                &entry.key,
                text,
            ));
        }
        facts.push(Fact::Parameter(Parameter {
            at: site,
            name: entry.key.clone(),
            hidden: Node::known_bool(entry.value.get("NoEcho")),
            default: default_known,
        }));
    }
}

/// Whether a property name says it holds a secret (`MasterUserPassword`, `AuthToken`,
/// `ApiKey`), and is not just a reference to one (`SecretArn`, `PasswordParameterName`).
fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    const SECRET: [&str; 8] = [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "privatekey",
        "credential",
    ];
    // Suffixes of names that refer to a secret or configure one, rather than hold it
    // (`HttpTokens: required` is the IMDSv2 switch).
    const REFERENCE: [&str; 21] = [
        "arn",
        "arns",
        "id",
        "ids",
        "name",
        "length",
        "policy",
        "policies",
        "type",
        "version",
        "rotation",
        "enabled",
        "required",
        "manager",
        "template",
        "field",
        "path",
        "parameter",
        "url",
        "units",
        "tokens",
    ];
    SECRET.iter().any(|s| lower.contains(s)) && !REFERENCE.iter().any(|r| lower.ends_with(r))
}

/// Literal strings in properties named like secrets (`MasterUserPassword: hunter2`).
fn secret_named_literals(site: &Site, props: &Node, kind: &str, facts: &mut Vec<Fact>) {
    // A database parameter group's settings are engine options (`old_passwords: 0`).
    if kind.ends_with("ParameterGroup") {
        return;
    }
    // Values already reported in a more specific context (Lambda environment, ECS
    // environment) are not reported again.
    let reported: Vec<(String, Span)> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Literal(l) if l.at.resource_span == site.resource_span => {
                Some((l.name.clone(), l.at.span))
            }
            _ => None,
        })
        .collect();
    let mut found = Vec::new();
    props.walk(&mut |key, node| {
        let Some(key) = key else { return };
        let Value::String(text) = &node.value else {
            return;
        };
        // The secret's own value is reported with its stronger context.
        let own_secret = kind == "AWS::SecretsManager::Secret" && key == "SecretString";
        let already = reported.iter().any(|(n, s)| n == key && *s == node.span);
        if own_secret || already || text.is_empty() || !looks_secret(key) {
            return;
        }
        found.push(literal(
            site.at(node.span),
            LiteralContext::Attribute,
            key,
            text,
        ));
    });
    facts.extend(found);
}

/// `Metadata: {airlock: {ignore: [{rule: CODE, reason: ...}]}}` on a resource.
fn suppressions(path: &Arc<str>, metadata: &Node, covers: Span, out: &mut Vec<Suppression>) {
    let Some(ignore) = metadata.path(&["airlock", "ignore"]) else {
        return;
    };
    for item in ignore.items() {
        let Some(rule) = item
            .get("rule")
            .or_else(|| item.get("id"))
            .and_then(Node::as_str)
        else {
            continue;
        };
        let reason = item
            .get("reason")
            .and_then(Node::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        out.push(Suppression {
            file: path.clone(),
            rules: rule
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
            reason,
            line: item.line(),
            covers,
        });
    }
}

/// Whether a map is an intrinsic function call: its single key is `Ref` or `Fn::...`.
fn is_intrinsic(entries: &[Entry]) -> bool {
    matches!(entries, [only] if only.key == "Ref" || only.key.starts_with("Fn::"))
}

/// `{{resolve:secretsmanager:...}}` and `{{resolve:ssm-secure:...}}` are resolved at deploy
/// time: the template holds a reference, not the value.
fn is_dynamic_reference(text: &str) -> bool {
    text.contains("{{resolve:")
}

/// An intrinsic that is not evaluated, as an unknown value saying what it was.
pub(crate) fn unknown_intrinsic(node: &Node) -> Node {
    Node::unknown(describe_intrinsic(node), node.span)
}

/// How an intrinsic is written in short form, for messages: `!Ref AllowedCidr`,
/// `!GetAtt Db.Endpoint.Address`, `!Sub ...`.
fn describe_intrinsic(node: &Node) -> String {
    let Some(entry) = node.entries().first() else {
        return node.describe();
    };
    let name = entry.key.strip_prefix("Fn::").unwrap_or(&entry.key);
    let argument = match (&entry.value.value, name) {
        (Value::List(items), "GetAtt") => items
            .iter()
            .map(|i| short(i, 0))
            .collect::<Vec<_>>()
            .join("."),
        _ => short(&entry.value, 0),
    };
    let text = format!("!{name} {argument}");
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn short(node: &Node, depth: usize) -> String {
    if depth > 3 {
        return "...".into();
    }
    match &node.value {
        Value::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| short(i, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(entries) if is_intrinsic(entries) => describe_intrinsic(node),
        Value::Map(_) => "{...}".into(),
        Value::String(s) => s.lines().next().unwrap_or("").to_string(),
        _ => node.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;
    use crate::model::{EcsTaskDefinition, Policy};

    fn parse(name: &str, text: &str) -> Parsed {
        let mut all = formats::parse(&SourceFile::new(name, text));
        assert_eq!(all.len(), 1, "{name}: {all:?}");
        let parsed = all.pop().unwrap_or_default();
        assert_eq!(parsed.format, Some(Format::CloudFormation));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed
    }

    /// Debug text of the facts with every line number replaced, to compare a YAML template with
    /// its JSON equivalent.
    fn without_lines(facts: &[Fact]) -> String {
        let text = format!("{facts:?}");
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("line: ") {
            let (head, tail) = rest.split_at(at + "line: ".len());
            out.push_str(head);
            out.push('N');
            rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out.push_str(rest);
        out.replace("template.json", "template.yaml")
    }

    const SHORT: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  AllowedCidr:
    Type: String
    Default: 0.0.0.0/0
  DbPassword:
    Type: String
    NoEcho: true
Resources:
  WebSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 22
          ToPort: 22
          CidrIp: 0.0.0.0/0
        - IpProtocol: -1
          CidrIpv6: ::/0
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: !Ref AllowedCidr
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  Log:
    Type: AWS::EC2::FlowLog
    Properties:
      ResourceId: !Ref Vpc
      ResourceType: VPC
  Repo:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryPolicyText:
        Statement:
          - Effect: Allow
            Principal: '*'
            Action: ecr:*
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: hunter2hunter2
      KmsKeyId: !GetAtt Key.Arn
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      MasterUserPassword: literal-pass
      MasterUsername: !Sub '${AWS::StackName}-admin'
"#;

    /// The same template in long form, line for line.
    const LONG: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  AllowedCidr:
    Type: String
    Default: 0.0.0.0/0
  DbPassword:
    Type: String
    NoEcho: true
Resources:
  WebSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      VpcId: {Ref: Vpc}
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 22
          ToPort: 22
          CidrIp: 0.0.0.0/0
        - IpProtocol: -1
          CidrIpv6: ::/0
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: {Ref: AllowedCidr}
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  Log:
    Type: AWS::EC2::FlowLog
    Properties:
      ResourceId: {Ref: Vpc}
      ResourceType: VPC
  Repo:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryPolicyText:
        Statement:
          - Effect: Allow
            Principal: '*'
            Action: ecr:*
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: hunter2hunter2
      KmsKeyId: {"Fn::GetAtt": [Key, Arn]}
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      MasterUserPassword: literal-pass
      MasterUsername: {"Fn::Sub": '${AWS::StackName}-admin'}
"#;

    const JSON: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {
    "AllowedCidr": {"Type": "String", "Default": "0.0.0.0/0"},
    "DbPassword": {"Type": "String", "NoEcho": true}
  },
  "Resources": {
    "WebSG": {
      "Type": "AWS::EC2::SecurityGroup",
      "Properties": {
        "GroupDescription": "web",
        "VpcId": {"Ref": "Vpc"},
        "SecurityGroupIngress": [
          {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"},
          {"IpProtocol": -1, "CidrIpv6": "::/0"},
          {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": {"Ref": "AllowedCidr"}}
        ]
      }
    },
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
    "Log": {"Type": "AWS::EC2::FlowLog", "Properties": {"ResourceId": {"Ref": "Vpc"}, "ResourceType": "VPC"}},
    "Repo": {
      "Type": "AWS::ECR::Repository",
      "Properties": {
        "RepositoryPolicyText": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]}
      }
    },
    "Secret": {
      "Type": "AWS::SecretsManager::Secret",
      "Properties": {"SecretString": "hunter2hunter2", "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}
    },
    "Db": {
      "Type": "AWS::RDS::DBInstance",
      "Properties": {"MasterUserPassword": "literal-pass", "MasterUsername": {"Fn::Sub": "${AWS::StackName}-admin"}}
    }
  }
}"#;

    fn ingresses(facts: &[Fact]) -> Vec<&Ingress> {
        facts
            .iter()
            .filter_map(|f| match f {
                Fact::Ingress(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn short_form_long_form_and_json_give_the_same_facts() {
        let short = parse("template.yaml", SHORT);
        let long = parse("template.yaml", LONG);
        let json = parse("template.json", JSON);
        assert_eq!(short.facts, long.facts);
        assert_eq!(without_lines(&short.facts), without_lines(&json.facts));
        assert!(short.facts.len() >= 12, "{:#?}", short.facts);
    }

    #[test]
    fn security_group_ingress_rules_are_facts_with_their_lines() {
        let parsed = parse("template.yaml", SHORT);
        let rules = ingresses(&parsed.facts);
        assert_eq!(rules.len(), 3);
        let ssh = rules[0];
        assert_eq!(ssh.at.resource, "WebSG");
        assert_eq!(ssh.at.resource_span, Span::new(10, 25));
        assert_eq!(ssh.at.span, Span::new(16, 19));
        assert_eq!(ssh.protocol, Known::Value("tcp".into()));
        assert_eq!(ssh.ports, Known::Value(Ports::Range(22, 22)));
        assert_eq!(ssh.cidrs, vec![Known::Value("0.0.0.0/0".into())]);
        let all = rules[1];
        assert_eq!(all.protocol, Known::Value("all".into()));
        assert_eq!(all.ports, Known::Value(Ports::All));
        assert_eq!(all.cidrs, vec![Known::Value("::/0".into())]);
        assert_eq!(all.at.span, Span::new(20, 21));
        // `!Ref AllowedCidr` is its default, 0.0.0.0/0, and the parse notes it on the line.
        assert_eq!(rules[2].cidrs, vec![Known::Value("0.0.0.0/0".into())]);
        assert!(
            parsed
                .notes
                .iter()
                .any(|n| n.line == 25 && n.text == "AllowedCidr defaults to 0.0.0.0/0"),
            "{:?}",
            parsed.notes
        );
    }

    /// A world-open group reached only through a parameter default: reported, saying so;
    /// a value given for the parameter makes it safe; a resource whose condition is false is
    /// not created, so not reported.
    #[test]
    fn a_world_open_group_through_a_parameter_default_and_its_safe_overrides() {
        use crate::{ScanOptions, scan_sources};
        let template = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  AllowedCidr:
    Type: String
    Default: 0.0.0.0/0
  Env:
    Type: String
    Default: test
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  WebSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 22
          ToPort: 22
          CidrIp: !Ref AllowedCidr
  ProdOnlySG:
    Type: AWS::EC2::SecurityGroup
    Condition: IsProd
    Properties:
      GroupDescription: prod
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 3389
          ToPort: 3389
          CidrIp: 0.0.0.0/0
"#;
        let scan = |params: &[(&str, &str)]| {
            let options = ScanOptions {
                parse: crate::formats::ParseOptions {
                    cfn_params: params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                },
                ..ScanOptions::default()
            };
            let result = scan_sources(&[SourceFile::new("stack.yaml", template)], &options);
            assert!(result.errors.is_empty(), "{:?}", result.errors);
            result
                .findings
                .into_iter()
                .filter(|f| f.rule.starts_with("NET"))
                .map(|f| (f.resource, f.message))
                .collect::<Vec<_>>()
        };
        let defaults = scan(&[]);
        assert_eq!(defaults.len(), 1, "{defaults:#?}");
        assert_eq!(defaults[0].0, "WebSG");
        assert!(
            defaults[0]
                .1
                .ends_with("(AllowedCidr defaults to 0.0.0.0/0)"),
            "{defaults:#?}"
        );
        assert!(scan(&[("AllowedCidr", "10.0.0.0/8")]).is_empty());
        // Env=prod creates the RDP group; its finding depends on no parameter.
        let prod = scan(&[("AllowedCidr", "10.0.0.0/8"), ("Env", "prod")]);
        assert_eq!(prod.len(), 1, "{prod:#?}");
        assert_eq!(prod[0].0, "ProdOnlySG");
        assert!(!prod[0].1.contains("defaults to"), "{prod:#?}");
    }

    #[test]
    fn vpc_flow_log_repository_secret_and_parameters() {
        let parsed = parse("template.yaml", SHORT);
        let facts = &parsed.facts;
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Vpc(v) if v.names == ["Vpc"] && v.at.span == Span::new(26, 29))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::FlowLog(l) if l.target == Known::Value("Vpc".into()))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::EcrRepository(r) if r.tag_mutability == Known::Value("MUTABLE".into())
                && r.scan_on_push.is_absent() && r.encryption_type.is_absent())));
        assert!(
            facts.iter().any(|f| matches!(f,
            Fact::Policy(Policy { kind: PolicyKind::Resource, at, statements, .. })
                if at.resource == "Repo" && statements.len() == 1 && at.span == Span::new(39, 42)))
        );
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Encryption(e) if e.what == EncryptedKind::Secret
                && e.kms_key == Known::Unknown("!GetAtt Key.Arn".into()))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Literal(l) if l.context == LiteralContext::SecretString
                && l.value == "hunter2hunter2" && l.at.span == Span::line(46))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Literal(l) if l.context == LiteralContext::Attribute
                && l.name == "MasterUserPassword" && l.at.resource == "Db")));
        assert!(!looks_secret("HttpTokens"));
        assert!(!looks_secret("SecretArn"));
        assert!(!looks_secret("PasswordLength"));
        assert!(looks_secret("ClientSecret"));
        assert!(looks_secret("AuthToken"));
        // Neither the unknown user name nor the secret's own string count as attributes.
        let attributes = facts
            .iter()
            .filter(|f| matches!(f, Fact::Literal(l) if l.context == LiteralContext::Attribute))
            .count();
        assert_eq!(attributes, 1);
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Parameter(p) if p.name == "DbPassword" && p.hidden == Known::Value(true)
                && p.default.is_absent())));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Literal(l) if l.context == LiteralContext::Default && l.name == "AllowedCidr"
                && l.at.span == Span::line(5))));
    }

    #[test]
    fn network_acl_public_ip_and_task_definitions() {
        let text = r#"Resources:
  Entry:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref Acl
      RuleNumber: 100
      Protocol: 6
      RuleAction: ALLOW
      CidrBlock: 0.0.0.0/0
      PortRange: {From: 22, To: 22}
  Service:
    Type: AWS::ECS::Service
    Properties:
      NetworkConfiguration:
        AwsvpcConfiguration:
          AssignPublicIp: ENABLED
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      ContainerDefinitions:
        - Name: app
          Image: nginx
          Privileged: true
          Environment:
            - {Name: DB_PASSWORD, Value: hunter2}
            - {Name: REGION, Value: !Ref AWS::Region}
"#;
        let parsed = parse("template.yaml", text);
        let facts = &parsed.facts;
        assert!(facts.iter().any(|f| matches!(f,
            Fact::NetworkAclEntry(n) if n.egress == Known::Value(false)
                && n.action == Known::Value("allow".into())
                && n.protocol == Known::Value("tcp".into())
                && n.ports == Known::Value(Ports::Range(22, 22))
                && n.cidr == Known::Value("0.0.0.0/0".into()))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::PublicIp(p) if p.assign_public_ip == Known::Value(true)
                && p.at.span == Span::line(16) && p.what == "ECS service")));
        let task = facts.iter().find_map(|f| match f {
            Fact::EcsTaskDefinition(t) => Some(t),
            _ => None,
        });
        let Some(EcsTaskDefinition {
            network_mode,
            fargate,
            containers,
            ..
        }) = task
        else {
            panic!("no task definition in {facts:#?}");
        };
        assert_eq!(network_mode, &Known::Value("awsvpc".into()));
        assert_eq!(fargate, &Known::Value(true));
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].at.resource, "Task/app");
        assert_eq!(containers[0].privileged, Known::Value(true));
        let env: Vec<_> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) if l.context == LiteralContext::EcsEnvironment => {
                    Some((l.name.as_str(), l.value.as_str(), l.at.span.line))
                }
                _ => None,
            })
            .collect();
        assert_eq!(env, vec![("DB_PASSWORD", "hunter2", 27)]);
    }

    #[test]
    fn standalone_ingress_resources_are_facts() {
        let text = r#"Resources:
  Rdp:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref Sg
      IpProtocol: "6"
      FromPort: 3389
      ToPort: 3389
      CidrIpv6: ::/0
  FromGroup:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref Sg
      IpProtocol: tcp
      FromPort: 0
      ToPort: 65535
      SourceSecurityGroupId: !Ref Other
"#;
        let parsed = parse("template.yaml", text);
        let rules = ingresses(&parsed.facts);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].at.resource, "Rdp");
        assert_eq!(rules[0].at.span, Span::new(2, 9));
        assert_eq!(rules[0].protocol, Known::Value("tcp".into()));
        assert_eq!(rules[0].ports, Known::Value(Ports::Range(3389, 3389)));
        assert_eq!(rules[0].cidrs, vec![Known::Value("::/0".into())]);
        assert_eq!(rules[1].ports, Known::Value(Ports::All));
        assert!(rules[1].cidrs.is_empty());
    }

    #[test]
    fn iam_encryption_logging_and_access_keys() {
        let text = r#"AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {AWS: '*'}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: admin
          PolicyDocument:
            Statement:
              - {Effect: Allow, Action: '*', Resource: '*'}
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: '{"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}'
  Key:
    Type: AWS::IAM::AccessKey
    Properties:
      UserName: bob
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
  Topic:
    Type: AWS::SNS::Topic
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 30
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsMultiRegionTrail: false
      EnableLogFileValidation: !Ref Validate
"#;
        let parsed = parse("template.yaml", text);
        let facts = &parsed.facts;
        let kinds: Vec<(PolicyKind, u32)> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Policy(p) => Some((p.kind, p.at.span.line)),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (PolicyKind::Trust, 7),
                (PolicyKind::Identity, 14),
                (PolicyKind::Identity, 19)
            ]
        );
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Policy(p) if p.statements.first().is_some_and(|s|
                s.actions == vec![Known::Value("iam:*".to_string())]))));
        assert!(
            facts
                .iter()
                .any(|f| matches!(f, Fact::IamAccessKey(s) if s.resource == "Key"))
        );
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Encryption(e) if e.what == EncryptedKind::Queue
                && e.managed_sse == Known::Value(true) && e.kms_key.is_absent())));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::Encryption(e) if e.what == EncryptedKind::Topic && e.kms_key.is_absent()
                && e.at.span == Span::new(28, 29))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::LogGroup(l) if l.retention_days == Known::Value(30))));
        assert!(facts.iter().any(|f| matches!(f,
            Fact::CloudTrail(t) if t.multi_region == Known::Value(false)
                && t.log_file_validation == Known::Unknown("!Ref Validate".into()))));
    }

    #[test]
    fn user_data_and_lambda_environment_literals() {
        let text = r##"Transform: AWS::Serverless-2016-10-31
Resources:
  Plain:
    Type: AWS::EC2::Instance
    Properties:
      UserData: !Base64 |
        #!/bin/bash
        export TOKEN=abc
  Joined:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        UserData:
          Fn::Base64: !Join ['', ["#!/bin/bash\n", "echo hi\n"]]
  Templated:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties:
      UserData:
        Fn::Base64: !Sub "echo ${AWS::Region}"
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          API_KEY: abc123
          TABLE: !Ref Table
"##;
        let parsed = parse("template.yaml", text);
        let literals: Vec<(LiteralContext, &str, &str, Span)> = parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) => Some((
                    l.context,
                    l.at.resource.as_str(),
                    l.value.as_str(),
                    l.at.span,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            literals,
            vec![
                (
                    LiteralContext::UserData,
                    "Plain",
                    "#!/bin/bash\nexport TOKEN=abc\n",
                    Span::new(6, 8)
                ),
                (
                    LiteralContext::UserData,
                    "Joined",
                    "#!/bin/bash\necho hi\n",
                    Span::line(14)
                ),
                (
                    LiteralContext::LambdaEnvironment,
                    "Fn",
                    "abc123",
                    Span::line(25)
                ),
            ]
        );
    }

    #[test]
    fn dynamic_references_and_ssm_parameter_defaults_are_not_literals() {
        let text = r#"Parameters:
  LatestAmi:
    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>
    Default: /aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      MasterUserPassword: '{{resolve:secretsmanager:db:SecretString:password}}'
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: '{{resolve:ssm-secure:token}}'
  Host:
    Type: AWS::EC2::Instance
    Properties:
      NetworkInterfaces:
        - AssociatePublicIpAddress: true
          DeviceIndex: 0
  Params:
    Type: AWS::RDS::DBParameterGroup
    Properties:
      Parameters:
        old_passwords: '0'
"#;
        let parsed = parse("template.yaml", text);
        let literals = parsed
            .facts
            .iter()
            .filter(|f| matches!(f, Fact::Literal(_)))
            .count();
        assert_eq!(literals, 0, "{:#?}", parsed.facts);
        assert!(parsed.facts.iter().any(|f| matches!(f,
            Fact::Parameter(p) if p.default.is_unknown())));
        assert!(parsed.facts.iter().any(|f| matches!(f,
            Fact::PublicIp(p) if p.assign_public_ip == Known::Value(true)
                && p.what == "EC2 instance" && p.at.span == Span::line(18))));
    }

    #[test]
    fn unknown_properties_and_generated_resources_give_no_facts() {
        let text = r#"Transform: AWS::LanguageExtensions
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Repo:
    Type: AWS::ECR::Repository
    Properties: !If [Prod, {ImageTagMutability: IMMUTABLE}, {ImageTagMutability: MUTABLE}]
  Fn::ForEach::Queues:
    - Name
    - [A, B]
    - Queue${Name}:
        Type: AWS::SQS::Queue
  Vpc:
    Type: AWS::EC2::VPC
    Properties: !If [Big, {CidrBlock: 10.0.0.0/8}, {CidrBlock: 10.0.0.0/16}]
"#;
        let parsed = parse("template.yaml", text);
        assert_eq!(parsed.facts.len(), 1, "{:#?}", parsed.facts);
        assert!(matches!(&parsed.facts[0], Fact::Vpc(v) if v.names == ["Vpc"]));
    }

    #[test]
    fn metadata_suppressions_cover_the_resource() {
        let text = r#"AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Metadata:
      airlock:
        ignore:
          - rule: NET001
            reason: bastion
          - id: LOG001
  Other:
    Type: AWS::S3::Bucket
"#;
        let parsed = parse("template.yaml", text);
        let found: Vec<(Vec<String>, Option<String>, u32, Span)> = parsed
            .suppressions
            .iter()
            .map(|s| (s.rules.clone(), s.reason.clone(), s.line, s.covers))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    vec!["NET001".into()],
                    Some("bastion".into()),
                    8,
                    Span::new(3, 10)
                ),
                (vec!["LOG001".into()], None, 10, Span::new(3, 10)),
            ]
        );
    }

    #[test]
    fn recognises_templates_and_reports_broken_resources() {
        let doc = |text: &str| {
            crate::formats::yaml::load(&SourceFile::new("t.yaml", text))
                .ok()
                .and_then(|d| d.into_iter().next())
                .unwrap_or_else(|| Node::new(Value::Null, Span::line(1)))
        };
        assert!(is_template(&doc(
            "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"
        )));
        assert!(is_template(&doc(
            "Transform: [AWS::Serverless-2016-10-31]\n"
        )));
        assert!(!is_template(&doc("Resources:\n  cpu: 1\n")));
        assert!(!is_template(&doc("apiVersion: v1\nkind: Pod\n")));
        let file = SourceFile::new(
            "t.yaml",
            "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  A:\n    Properties: {}\n  B: 5\n",
        );
        let parsed = formats::parse(&file);
        let lines: Vec<u32> = parsed
            .iter()
            .flat_map(|p| p.errors.iter().map(|e| e.line))
            .collect();
        assert_eq!(lines, vec![3, 5]);
    }

    #[test]
    fn invalid_templates_are_errors_with_lines() {
        let file = SourceFile::new(
            "t.yaml",
            "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  A:\n    Type: AWS::S3::Bucket\n   Properties: x\n",
        );
        let parsed = formats::parse(&file);
        let errors: Vec<_> = parsed.iter().flat_map(|p| p.errors.clone()).collect();
        assert_eq!(errors.len(), 1, "{parsed:?}");
        assert_eq!((errors[0].file.as_str(), errors[0].line), ("t.yaml", 5));
    }

    fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    fn source(path: &std::path::Path) -> Option<SourceFile> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(SourceFile::new(path.display().to_string(), text))
    }

    #[test]
    fn reinvent_corpus_yields_ingress_repositories_secrets_and_tasks() {
        let Some(root) = airlock_test_corpora::require(
            "reinvent_corpus_yields_ingress_repositories_secrets_and_tasks",
        ) else {
            return;
        };
        let dir = root.join("reinvent2019-con414");
        let parse_file = |name: &str| {
            let file = source(&dir.join(name));
            let parsed = file.map(|f| formats::parse(&f)).unwrap_or_default();
            assert_eq!(parsed.len(), 1, "{name}");
            parsed.into_iter().next().unwrap_or_default()
        };
        let vpc = parse_file("cloudformation/00-cluster-fargate-vpc.yml");
        assert!(vpc.errors.is_empty(), "{:?}", vpc.errors);
        assert!(vpc.facts.iter().any(|f| matches!(f,
            Fact::Ingress(i) if i.protocol == Known::Value("all".into())
                && i.ports == Known::Value(Ports::All)
                && i.cidrs.contains(&Known::Value("0.0.0.0/0".into())))));
        assert!(
            vpc.facts
                .iter()
                .any(|f| matches!(f, Fact::EcrRepository(_)))
        );
        let asm = parse_file("cloudformation/01-cluster-fargate-vpc-asm.yml");
        assert!(asm.errors.is_empty(), "{:?}", asm.errors);
        assert!(
            asm.facts
                .iter()
                .any(|f| matches!(f, Fact::EcrRepository(_)))
        );
        assert!(asm.facts.iter().any(|f| matches!(f,
            Fact::Literal(l) if l.context == LiteralContext::SecretString
                && l.value.starts_with("fargate:$apr1$"))));
        for task in [
            "runtask/00-taskdefinition.json",
            "runtask/01-taskdefinition.json",
        ] {
            let parsed = parse_file(task);
            assert_eq!(parsed.format, Some(Format::EcsTaskDefinition), "{task}");
            assert!(
                parsed.facts.iter().any(|f| matches!(f,
                Fact::EcsTaskDefinition(t) if t.at.resource == "reinvent2019-con414"
                    && !t.containers.is_empty())),
                "{task}: {:?}",
                parsed.facts
            );
        }
    }

    #[test]
    fn every_cloudformation_sample_template_parses() {
        let Some(root) =
            airlock_test_corpora::require("every_cloudformation_sample_template_parses")
        else {
            return;
        };
        let mut paths = Vec::new();
        files_under(&root.join("aws-cloudformation-templates"), &mut paths);
        let sources: Vec<SourceFile> = paths
            .iter()
            .filter(|p| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                [".yaml", ".yml", ".json", ".template"]
                    .iter()
                    .any(|e| name.ends_with(e))
            })
            .filter_map(|p| source(p))
            .collect();
        let mut templates = 0;
        let mut facts = 0;
        let mut kinds = std::collections::BTreeMap::new();
        let mut errors = Vec::new();
        for file in &sources {
            let all = formats::parse(file);
            if !all.iter().any(|p| p.format == Some(Format::CloudFormation))
                && file.text.contains("Resources")
            {
                println!("not a template: {}", file.path);
            }
            for parsed in all {
                if parsed.format == Some(Format::CloudFormation) {
                    templates += 1;
                    facts += parsed.facts.len();
                }
                for fact in &parsed.facts {
                    let kind = format!("{fact:?}");
                    let kind = kind.split('(').next().unwrap_or_default().to_string();
                    *kinds.entry(kind).or_insert(0usize) += 1;
                    if let Fact::Literal(l) = fact
                        && std::env::var_os("AIRLOCK_SHOW_LITERALS").is_some()
                    {
                        println!("literal {:?} {} {}", l.context, l.name, l.at.resource);
                    }
                }
                errors.extend(parsed.errors);
            }
        }
        let result = crate::scan_sources(&sources, &crate::ScanOptions::default());
        println!(
            "{} files, {templates} templates, {facts} facts, {} errors, {} findings",
            sources.len(),
            errors.len(),
            result.findings.len()
        );
        println!("facts by kind: {kinds:?}");
        for e in &errors {
            println!("{e}");
        }
        assert!(templates >= 180, "only {templates} templates recognised");
        assert!(errors.is_empty(), "{} parse errors", errors.len());
        assert_eq!(result.errors, errors);
    }

    #[test]
    fn every_corpus_yaml_and_json_file_loads_or_fails_with_a_line() {
        let Some(root) = airlock_test_corpora::require(
            "every_corpus_yaml_and_json_file_loads_or_fails_with_a_line",
        ) else {
            return;
        };
        let mut paths = Vec::new();
        files_under(&root, &mut paths);
        let (mut yaml_files, mut json_files, mut failures) = (0, 0, 0);
        for path in &paths {
            let name = path.to_string_lossy().to_ascii_lowercase();
            let Some(file) = source(path) else { continue };
            let error = if name.ends_with(".yaml") || name.ends_with(".yml") {
                yaml_files += 1;
                crate::formats::yaml::load(&file).err()
            } else if name.ends_with(".json") {
                json_files += 1;
                json::load(&file).err()
            } else {
                continue;
            };
            if let Some(e) = error {
                failures += 1;
                println!("{e}");
                assert!(e.line >= 1 && e.line <= file.line_count() + 1, "{e}");
                assert_eq!(e.file, file.path.as_ref());
            }
        }
        println!("{yaml_files} YAML files, {json_files} JSON files, {failures} do not load");
        assert!(yaml_files + json_files > 0);
    }
}
