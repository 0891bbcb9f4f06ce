//! `--strict-unknowns`: what the rules could not decide.
//!
//! Rules report only on known values, so a security group whose CIDR is a module output, or
//! a policy whose actions come from a variable nobody set, passes silently. Security teams
//! need the list of those places. A rule is *undecided* on a fact when the fact holds
//! unknown values and the rule would report it if each unknown took its least safe value
//! (every port, `0.0.0.0/0`, `Allow`, `*`, privileged, no encryption) while, on the values
//! that are known, it does not. That question is asked of the rules themselves: each unit
//! whose facts hold unknowns is evaluated a second time with those facts at their worst, and
//! what only that evaluation finds is undecided, naming the unknowns and where they came
//! from. So a rule needs no code of its own for this, and an unknown that could not change a
//! rule's verdict (the CIDR of a rule on port 443, for NET001) is not listed.

use crate::finding::Finding;
use crate::model::{
    CloudTrail, Condition, EcrRepository, EcsTaskDefinition, Encryption, Fact, FlowLog, Ingress,
    Known, LogGroup, NetworkAclEntry, Parameter, Policy, Ports, Principal, PublicIp,
    SecurityContext, Site, Workload,
};
use crate::rules::{Rule, Unit};

/// Origins that mark "not applicable" rather than a value nobody could read.
const NOT_UNKNOWNS: [&str; 1] = ["ICMP has no ports"];

/// An unknown whose expression spells out an ARN (`!Sub arn:aws:iam::${AWS::AccountId}:root`,
/// `"arn:aws:s3:::${var.bucket}/*"`, `!GetAtt Role.Arn`) is not known, but it is no wildcard principal, no `*`
/// resource and no CIDR: its least safe value is itself.
fn spells_an_arn(origin: &str) -> bool {
    let origin = origin.trim();
    origin.contains("arn:aws")
        || origin.contains("arn:${")
        // An attribute that is an ARN by name: `!GetAtt Role.Arn`, `aws_iam_role.app.arn`.
        || origin.ends_with(".Arn")
        || origin.ends_with(".arn")
        || origin.contains(".Arn}")
        || origin.contains(".arn}")
}

/// Collects the origins of the unknowns it replaces with their least safe values.
#[derive(Default)]
struct Worst {
    origins: Vec<String>,
}

impl Worst {
    fn take(&mut self, origin: &str) -> bool {
        if NOT_UNKNOWNS.contains(&origin) {
            return false;
        }
        if !self.origins.iter().any(|o| o == origin) {
            self.origins.push(origin.to_string());
        }
        true
    }

    fn text(&mut self, value: &mut Known<String>, worst: &str) {
        if let Known::Unknown(origin) = value
            && !spells_an_arn(origin)
            && self.take(origin)
        {
            *value = Known::Value(worst.to_string());
        }
    }

    /// An unknown whose least safe reading is that it is not set at all (no KMS key).
    fn absent<T>(&mut self, value: &mut Known<T>) {
        if let Known::Unknown(origin) = value
            && self.take(origin)
        {
            *value = Known::Absent;
        }
    }

    fn flag(&mut self, value: &mut Known<bool>, worst: bool) {
        if let Known::Unknown(origin) = value
            && self.take(origin)
        {
            *value = Known::Value(worst);
        }
    }

    fn number(&mut self, value: &mut Known<i64>, worst: i64) {
        if let Known::Unknown(origin) = value
            && self.take(origin)
        {
            *value = Known::Value(worst);
        }
    }

    fn ports(&mut self, value: &mut Known<Ports>) {
        if let Known::Unknown(origin) = value
            && self.take(origin)
        {
            *value = Known::Value(Ports::All);
        }
    }

    fn texts(&mut self, values: &mut [Known<String>], worst: &str) {
        for value in values {
            self.text(value, worst);
        }
    }

    fn optional_flag(&mut self, value: &mut Option<Known<bool>>, worst: bool) {
        if let Some(value) = value {
            self.flag(value, worst);
        }
    }

    fn security(&mut self, context: &mut SecurityContext) {
        self.optional_flag(&mut context.privileged, true);
        self.optional_flag(&mut context.allow_privilege_escalation, true);
        self.optional_flag(&mut context.read_only_root_filesystem, false);
        self.optional_flag(&mut context.run_as_non_root, false);
        if let Some(user) = &mut context.run_as_user {
            self.number(user, 0);
        }
        self.texts(&mut context.capabilities_add, "SYS_ADMIN");
        // Dropping an unknown capability may drop nothing.
        self.texts(&mut context.capabilities_drop, "");
    }

    fn principals(&mut self, principals: &mut [Principal]) {
        for principal in principals {
            self.text(&mut principal.value, "*");
        }
    }

    fn conditions(&mut self, conditions: &mut [Condition]) {
        // A condition on `*` restricts nobody.
        for condition in conditions {
            self.texts(&mut condition.values, "*");
        }
    }

    fn policy(&mut self, policy: &mut Policy) {
        for statement in &mut policy.statements {
            self.text(&mut statement.effect, "Allow");
            self.texts(&mut statement.actions, "*");
            self.texts(&mut statement.not_actions, "*");
            self.texts(&mut statement.resources, "*");
            self.texts(&mut statement.not_resources, "*");
            self.principals(&mut statement.principals);
            self.principals(&mut statement.not_principals);
            self.conditions(&mut statement.conditions);
        }
    }

    /// The fact at its least safe, if it held an unknown.
    fn fact(&mut self, fact: &Fact) -> Option<Fact> {
        let mut worst = fact.clone();
        match &mut worst {
            Fact::Ingress(Ingress {
                protocol,
                ports,
                cidrs,
                ..
            }) => {
                self.text(protocol, "all");
                self.ports(ports);
                self.texts(cidrs, "0.0.0.0/0");
            }
            Fact::NetworkAclEntry(NetworkAclEntry {
                egress,
                action,
                protocol,
                ports,
                cidr,
                ..
            }) => {
                self.flag(egress, false);
                self.text(action, "allow");
                self.text(protocol, "all");
                self.ports(ports);
                self.text(cidr, "0.0.0.0/0");
            }
            Fact::PublicIp(PublicIp {
                assign_public_ip, ..
            }) => self.flag(assign_public_ip, true),
            Fact::EcsTaskDefinition(EcsTaskDefinition {
                network_mode,
                fargate,
                containers,
                ..
            }) => {
                self.text(network_mode, "bridge");
                self.flag(fargate, true);
                for container in containers {
                    self.flag(&mut container.privileged, true);
                    self.flag(&mut container.readonly_root_filesystem, false);
                    self.text(&mut container.user, "root");
                    self.flag(&mut container.log_configuration, false);
                    self.text(&mut container.image, "latest");
                }
            }
            Fact::Workload(Workload {
                host_network,
                host_pid,
                host_ipc,
                pod_security,
                containers,
                ..
            }) => {
                self.flag(host_network, true);
                self.flag(host_pid, true);
                self.flag(host_ipc, true);
                self.security(pod_security);
                for container in containers {
                    self.text(&mut container.image, "image:latest");
                    self.security(&mut container.security);
                }
            }
            Fact::EcrRepository(EcrRepository {
                scan_on_push,
                tag_mutability,
                encryption_type,
                ..
            }) => {
                self.flag(scan_on_push, false);
                self.text(tag_mutability, "MUTABLE");
                self.text(encryption_type, "AES256");
            }
            Fact::Policy(policy) => self.policy(policy),
            Fact::Encryption(Encryption {
                kms_key,
                managed_sse,
                ..
            }) => {
                self.absent(kms_key);
                self.flag(managed_sse, false);
            }
            Fact::LogGroup(LogGroup { retention_days, .. }) => self.number(retention_days, 0),
            Fact::FlowLog(FlowLog { target, .. }) => self.absent(target),
            Fact::CloudTrail(CloudTrail {
                multi_region,
                log_file_validation,
                ..
            }) => {
                self.flag(multi_region, false);
                self.flag(log_file_validation, false);
            }
            Fact::Parameter(Parameter { hidden, .. }) => self.flag(hidden, false),
            // No unknowns in these: literals exist only when known, and Dockerfiles, files
            // and profiles are read as written.
            Fact::Dockerfile(_)
            | Fact::IamAccessKey(_)
            | Fact::Vpc(_)
            | Fact::Literal(_)
            | Fact::CredentialFile(_)
            | Fact::AwsProfile(_) => {}
        }
        (!self.origins.is_empty()).then_some(worst)
    }
}

fn site(fact: &Fact) -> Option<&Site> {
    Some(match fact {
        Fact::Ingress(f) => &f.at,
        Fact::NetworkAclEntry(f) => &f.at,
        Fact::PublicIp(f) => &f.at,
        Fact::EcsTaskDefinition(f) => &f.at,
        Fact::Workload(f) => &f.at,
        Fact::Dockerfile(f) => &f.at,
        Fact::EcrRepository(f) => &f.at,
        Fact::Policy(f) => &f.at,
        Fact::IamAccessKey(f) => f,
        Fact::Encryption(f) => &f.at,
        Fact::LogGroup(f) => &f.at,
        Fact::Vpc(f) => &f.at,
        Fact::FlowLog(f) => &f.at,
        Fact::CloudTrail(f) => &f.at,
        Fact::Literal(f) => &f.at,
        Fact::CredentialFile(f) => &f.at,
        Fact::Parameter(f) => &f.at,
        Fact::AwsProfile(f) => &f.at,
    })
}

/// A fact that held unknowns: where it is and what was unknown.
struct Replaced {
    /// Its index in the unit's facts.
    index: usize,
    file: String,
    resource: String,
    lines: (u32, u32),
    origins: Vec<String>,
}

/// At most this many origins are named in a message; the rest are counted.
const MAX_NAMED_ORIGINS: usize = 4;

/// `` `a`, `b` `` or `` `a`, `b`, `c`, `d` and 3 more ``.
fn listed(origins: &[&str]) -> String {
    let named: Vec<String> = origins
        .iter()
        .take(MAX_NAMED_ORIGINS)
        .map(|o| format!("`{o}`"))
        .collect();
    match origins.len().saturating_sub(MAX_NAMED_ORIGINS) {
        0 => named.join(", "),
        more => format!("{} and {more} more", named.join(", ")),
    }
}

/// The origins of the facts' unknowns, each once, in order.
fn origins_of<'a>(facts: impl Iterator<Item = &'a Replaced>) -> Vec<&'a str> {
    let mut origins: Vec<&str> = Vec::new();
    for origin in facts.flat_map(|fact| &fact.origins) {
        if !origins.contains(&origin.as_str()) {
            origins.push(origin);
        }
    }
    origins
}

/// What the rules could not decide in `unit`, given what they found (`decided`, the unit's
/// findings on the known values). Each is a finding of the rule it concerns, at the place
/// the rule would have reported, whose message says which values were unknown.
pub(crate) fn undecided(unit: &Unit, rules: &[&dyn Rule], decided: &[Finding]) -> Vec<Finding> {
    let mut replaced = Vec::new();
    let mut facts = Vec::with_capacity(unit.facts.len());
    for (index, fact) in unit.facts.iter().enumerate() {
        let mut worst = Worst::default();
        match worst.fact(fact) {
            Some(at_worst) => {
                if let Some(at) = site(fact) {
                    replaced.push(Replaced {
                        index,
                        file: at.file.to_string(),
                        resource: at.resource.clone(),
                        lines: (at.resource_span.line, at.resource_span.end_line),
                        origins: worst.origins,
                    });
                }
                facts.push(at_worst);
            }
            None => facts.push(fact.clone()),
        }
    }
    if replaced.is_empty() {
        return Vec::new();
    }
    let at_worst = Unit {
        facts,
        convention: unit.convention.clone(),
    };
    let mut found = Vec::new();
    for rule in rules {
        rule.check(&at_worst, &mut found);
    }
    let same_place = |a: &Finding, b: &Finding| {
        a.rule == b.rule && a.file == b.file && a.line == b.line && a.resource == b.resource
    };
    // Whether the finding's rule reports it on these facts.
    let reports = |facts: Vec<Fact>, finding: &Finding| {
        let Some(rule) = rules.iter().find(|r| r.meta().code == finding.rule) else {
            return false;
        };
        let mut out = Vec::new();
        let unit = Unit {
            facts,
            convention: unit.convention.clone(),
        };
        rule.check(&unit, &mut out);
        out.iter().any(|f| same_place(f, finding))
    };
    // For a rule over the whole unit (a VPC and its flow logs, in other files), which
    // unknowns decide: each replaced fact alone at its worst.
    let alone_decides = |fact: &Replaced, finding: &Finding| {
        let mut facts = unit.facts.clone();
        facts[fact.index] = at_worst.facts[fact.index].clone();
        reports(facts, finding)
    };
    // When no fact decides alone (every flow log's target unknown, say), the facts without
    // whose worst value the finding goes away.
    let needed = |fact: &Replaced, finding: &Finding| {
        let mut facts = at_worst.facts.clone();
        facts[fact.index] = unit.facts[fact.index].clone();
        !reports(facts, finding)
    };
    let mut undecided: Vec<Finding> = Vec::new();
    for mut finding in found {
        if decided.iter().any(|d| same_place(d, &finding))
            || undecided.iter().any(|u| same_place(u, &finding))
        {
            continue;
        }
        // The unknowns of the fact the finding is about; else of the facts that decide it
        // alone; else of the facts it needs at their worst; else all of them.
        let mut origins = origins_of(replaced.iter().filter(|r| {
            r.file == finding.file
                && (r.resource == finding.resource
                    || (r.lines.0 <= finding.line && finding.line <= r.lines.1))
        }));
        if origins.is_empty() {
            origins = origins_of(replaced.iter().filter(|r| alone_decides(r, &finding)));
        }
        if origins.is_empty() {
            origins = origins_of(replaced.iter().filter(|r| needed(r, &finding)));
        }
        if origins.is_empty() {
            origins = origins_of(replaced.iter());
        }
        finding.message = format!(
            "could not be decided on {}: it depends on {}",
            finding.resource,
            listed(&origins)
        );
        undecided.push(finding);
    }
    undecided
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Span;

    fn ingress(ports: Known<Ports>, cidr: Known<String>) -> Fact {
        let file: Arc<str> = Arc::from("main.tf");
        Fact::Ingress(Ingress {
            at: Site::new(&file, "aws_security_group.web", Span::new(3, 9)),
            protocol: Known::Value("tcp".into()),
            ports,
            cidrs: vec![cidr],
        })
    }

    fn run(facts: Vec<Fact>) -> (Vec<Finding>, Vec<Finding>) {
        let unit = Unit {
            facts,
            ..Unit::default()
        };
        let rules: Vec<&dyn Rule> = crate::rules::all().to_vec();
        let mut decided = Vec::new();
        for rule in &rules {
            rule.check(&unit, &mut decided);
        }
        let undecided = undecided(&unit, &rules, &decided);
        (decided, undecided)
    }

    #[test]
    fn an_unknown_cidr_on_ssh_is_undecided_and_names_its_origin() {
        let (decided, undecided) = run(vec![ingress(
            Known::Value(Ports::Range(22, 22)),
            Known::Unknown("var.allowed_cidr".into()),
        )]);
        assert!(decided.is_empty(), "{decided:?}");
        let rules: Vec<&str> = undecided.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["NET001"]);
        assert_eq!(
            undecided[0].message,
            "could not be decided on aws_security_group.web: it depends on `var.allowed_cidr`"
        );
        assert_eq!(
            (undecided[0].file.as_str(), undecided[0].line),
            ("main.tf", 3)
        );
    }

    #[test]
    fn an_unknown_that_cannot_change_a_verdict_is_not_listed() {
        // Port 443: whatever the CIDR, no rule about SSH, RDP, databases or all ports fires.
        let (_, undecided) = run(vec![ingress(
            Known::Value(Ports::Range(443, 443)),
            Known::Unknown("var.allowed_cidr".into()),
        )]);
        assert!(undecided.is_empty(), "{undecided:?}");
        // Known values: nothing is undecided, and a finding stays a finding.
        let (decided, undecided) = run(vec![ingress(
            Known::Value(Ports::Range(22, 22)),
            Known::Value("0.0.0.0/0".into()),
        )]);
        assert_eq!(decided.len(), 1);
        assert!(undecided.is_empty(), "{undecided:?}");
    }

    /// Each unknown takes one least-safe value: an unknown port range is every port, which
    /// is NET002's (NET001 and NET003 leave all-port rules to it), so the place is listed
    /// once, under NET002.
    #[test]
    fn unknown_ports_with_a_world_open_cidr_are_undecided_as_every_port() {
        let (decided, undecided) = run(vec![ingress(
            Known::Unknown("var.port".into()),
            Known::Value("0.0.0.0/0".into()),
        )]);
        assert!(decided.is_empty(), "{decided:?}");
        let rules: Vec<&str> = undecided.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["NET002"]);
    }

    #[test]
    fn an_unknown_that_spells_an_arn_is_no_wildcard_principal() {
        let file: Arc<str> = Arc::from("template.yaml");
        let key_policy = |principal: &str| {
            Fact::Policy(Policy {
                at: Site::new(&file, "Key", Span::new(4, 20)),
                kind: crate::model::PolicyKind::Resource,
                statements: vec![crate::model::Statement {
                    span: Span::new(8, 12),
                    sid: None,
                    effect: Known::Value("Allow".into()),
                    actions: vec![Known::Value("kms:*".into())],
                    not_actions: Vec::new(),
                    resources: vec![Known::Value("*".into())],
                    not_resources: Vec::new(),
                    principals: vec![Principal {
                        kind: "AWS".into(),
                        value: Known::Unknown(principal.into()),
                    }],
                    not_principals: Vec::new(),
                    conditions: Vec::new(),
                }],
                attached_to: Some("AWS::KMS::Key".into()),
            })
        };
        let (_, undecided) = run(vec![key_policy("!Sub arn:aws:iam::${AWS::AccountId}:root")]);
        assert!(undecided.is_empty(), "{undecided:?}");
        let (_, undecided) = run(vec![key_policy("!Ref KeyUser")]);
        let rules: Vec<&str> = undecided.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["IAM009"]);
    }

    #[test]
    fn attributes_that_are_arns_by_name_spell_an_arn() {
        assert!(spells_an_arn("!GetAtt PipelineRole.Arn"));
        assert!(spells_an_arn("aws_iam_role.app.arn"));
        assert!(spells_an_arn("!Sub ${PipelineS3Bucket.Arn}/*"));
        assert!(spells_an_arn(
            "\"arn:${data.aws_partition.current.partition}:s3:::x\""
        ));
        assert!(!spells_an_arn("!Ref KeyUser"));
        assert!(!spells_an_arn("var.principal"));
    }

    /// Two flow logs whose targets are unknown keep LOG002 quiet for the VPC; neither
    /// decides alone, both are needed, and an unrelated unknown in the unit is not named.
    #[test]
    fn the_unknowns_a_unit_rule_needs_are_named_and_no_others() {
        let file: Arc<str> = Arc::from("main.tf");
        let flow_log = |resource: &str, target: &str| {
            Fact::FlowLog(FlowLog {
                at: Site::new(&file, resource, Span::new(30, 34)),
                target: Known::Unknown(target.into()),
            })
        };
        let (decided, undecided) = run(vec![
            Fact::Vpc(crate::model::Vpc {
                at: Site::new(&file, "aws_vpc.main", Span::new(1, 4)),
                names: vec!["aws_vpc.main".into()],
            }),
            flow_log("aws_flow_log.a", "var.vpc_a"),
            flow_log("aws_flow_log.b", "var.vpc_b"),
            ingress(
                Known::Value(Ports::Range(443, 443)),
                Known::Unknown("var.web_cidr".into()),
            ),
        ]);
        assert!(decided.is_empty(), "{decided:?}");
        let messages: Vec<(&str, &str)> = undecided
            .iter()
            .map(|f| (f.rule, f.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [(
                "LOG002",
                "could not be decided on aws_vpc.main: it depends on `var.vpc_a`, `var.vpc_b`"
            )]
        );
    }

    #[test]
    fn long_lists_of_origins_are_counted_after_the_fourth() {
        assert_eq!(listed(&["a"]), "`a`");
        assert_eq!(
            listed(&["a", "b", "c", "d", "e", "f"]),
            "`a`, `b`, `c`, `d` and 2 more"
        );
    }

    #[test]
    fn icmp_has_no_ports_and_is_not_an_unknown() {
        let (_, undecided) = run(vec![ingress(
            Known::Unknown("ICMP has no ports".into()),
            Known::Value("0.0.0.0/0".into()),
        )]);
        assert!(undecided.is_empty(), "{undecided:?}");
    }
}
