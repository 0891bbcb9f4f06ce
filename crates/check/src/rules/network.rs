//! Network exposure: security group ingress and network ACL entries open to the whole
//! internet, and workloads placed on public IP addresses.

use crate::finding::{Finding, Severity};
use crate::model::{Fact, Ingress, Known, NetworkAclEntry, Ports};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &WorldOpenSshRdp,
    &WorldOpenAllPorts,
    &WorldOpenAdminPort,
    &NaclWorldOpenAdmin,
    &PublicIpAssigned,
];

/// Whether a CIDR covers every address: any IPv4 or IPv6 block with prefix length 0
/// (`0.0.0.0/0`, `::/0`, and unusual spellings such as `::0/0`).
pub(crate) fn is_world_cidr(cidr: &str) -> bool {
    let Some((address, prefix)) = cidr.trim().split_once('/') else {
        return false;
    };
    prefix.trim().parse::<u8>() == Ok(0) && address.trim().parse::<std::net::IpAddr>().is_ok()
}

/// The known world-open CIDRs of an ingress rule, as written.
fn world_sources(ingress: &Ingress) -> Vec<&str> {
    ingress
        .cidrs
        .iter()
        .filter_map(Known::value)
        .map(String::as_str)
        .filter(|cidr| is_world_cidr(cidr))
        .collect()
}

fn describe_ports(ports: Ports) -> String {
    match ports {
        Ports::All => "all ports".into(),
        Ports::Range(from, to) if from == to => format!("port {from}"),
        Ports::Range(from, to) => format!("ports {from}-{to}"),
    }
}

/// A stable discriminator for one ingress rule: what it opens and to whom, not where it is.
fn ingress_discriminator(protocol: &str, ports: Ports, sources: &[&str]) -> String {
    let ports = match ports {
        Ports::All => "all".to_string(),
        Ports::Range(from, to) => format!("{from}-{to}"),
    };
    format!("{protocol}/{ports}/{}", sources.join(","))
}

/// An ingress rule open to the world, with known protocol and ports.
struct OpenIngress<'a> {
    ingress: &'a Ingress,
    protocol: &'a str,
    ports: Ports,
    sources: Vec<&'a str>,
}

impl OpenIngress<'_> {
    fn discriminator(&self) -> String {
        ingress_discriminator(self.protocol, self.ports, &self.sources)
    }

    fn world_sources_text(&self) -> String {
        self.sources.join(" and ")
    }
}

fn open_ingresses(unit: &Unit) -> impl Iterator<Item = OpenIngress<'_>> {
    unit.facts.iter().filter_map(|fact| {
        let Fact::Ingress(ingress) = fact else {
            return None;
        };
        let (Known::Value(protocol), Known::Value(ports)) = (&ingress.protocol, &ingress.ports)
        else {
            return None;
        };
        let sources = world_sources(ingress);
        (!sources.is_empty()).then_some(OpenIngress {
            ingress,
            protocol,
            ports: *ports,
            sources,
        })
    })
}

/// Remote administration ports that NET001 and NET004 look for, with what runs there.
const REMOTE_LOGIN_PORTS: [(u16, &str); 2] = [(22, "SSH"), (3389, "RDP")];

/// Ports of databases and administration services that must never face the internet.
const ADMIN_PORTS: [(u16, &str); 20] = [
    (23, "Telnet"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (2375, "Docker API"),
    (2376, "Docker API (TLS)"),
    (2379, "etcd"),
    (2380, "etcd peer"),
    (3306, "MySQL"),
    (5432, "PostgreSQL"),
    (5439, "Redshift"),
    (5900, "VNC"),
    (5984, "CouchDB"),
    (5985, "WinRM"),
    (5986, "WinRM (HTTPS)"),
    (6379, "Redis"),
    (9200, "Elasticsearch"),
    (9300, "Elasticsearch transport"),
    (10250, "kubelet"),
    (11211, "Memcached"),
    (27017, "MongoDB"),
];

fn named_ports(ports: Ports, candidates: &[(u16, &'static str)]) -> Vec<(u16, &'static str)> {
    candidates
        .iter()
        .copied()
        .filter(|(port, _)| ports.contains(*port))
        .collect()
}

fn list_ports(ports: &[(u16, &str)]) -> String {
    let named: Vec<String> = ports
        .iter()
        .map(|(port, name)| format!("{port} ({name})"))
        .collect();
    match named.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => named.join(""),
    }
}

/// `port 22 (SSH)`, `udp port 3389 (RDP)`, or `ports 20-4000, which include 22 (SSH) and
/// 3389 (RDP)`. TCP goes unsaid: it is what these services speak.
fn describe_exposure(protocol: &str, ports: Ports, exposed: &[(u16, &str)]) -> String {
    let protocol = if protocol == "tcp" {
        String::new()
    } else {
        format!("{protocol} ")
    };
    match (ports, exposed) {
        (Ports::Range(from, to), [(port, name)]) if from == to => {
            format!("{protocol}port {port} ({name})")
        }
        _ => format!(
            "{protocol}{}, which include {}",
            describe_ports(ports),
            list_ports(exposed)
        ),
    }
}

// ---------------------------------------------------------------------------------------

pub struct WorldOpenSshRdp;

static NET001: RuleMeta = RuleMeta {
    code: "NET001",
    name: "world-open-ssh-rdp",
    severity: Severity::Critical,
    practice: "Remote login (SSH, RDP) is reachable only from known networks, never from the whole internet.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A security group ingress rule that allows 0.0.0.0/0 or ::/0 to TCP port 22 (SSH) or TCP/UDP port 3389 (RDP), including port ranges that contain them. Rules that open every port are reported by NET002 instead.",
    why: "SSH and RDP endpoints open to the internet are scanned within minutes and receive constant password-guessing and exploit attempts; one weak credential or unpatched service gives an attacker a shell inside the VPC.",
    fix: "Restrict the source to your office or VPN CIDR, or remove the rule and reach instances through SSM Session Manager. If a bastion is required, allow only its security group as the source.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_security_group" "bastion" {
  name   = "bastion"
  vpc_id = var.vpc_id

  ingress {
    description = "SSH"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"#,
            passing: r#"resource "aws_security_group" "bastion" {
  name   = "bastion"
  vpc_id = var.vpc_id

  ingress {
    description = "SSH from the office VPN"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.20.0.0/16"]
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WindowsSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: Windows hosts
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 3389
          ToPort: 3389
          CidrIpv6: "::/0"
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WindowsSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: Windows hosts
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 3389
          ToPort: 3389
          CidrIp: 10.20.0.0/16
"#,
        },
    ],
    checkov: &["CKV_AWS_24", "CKV_AWS_25"],
};

impl Rule for WorldOpenSshRdp {
    fn meta(&self) -> &'static RuleMeta {
        &NET001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for open in open_ingresses(unit) {
            // Every-port rules are NET002's: one problem, one finding.
            if open.ports == Ports::All {
                continue;
            }
            let exposed: Vec<(u16, &str)> = match open.protocol {
                "tcp" => named_ports(open.ports, &REMOTE_LOGIN_PORTS),
                // RDP also listens on UDP 3389; SSH is TCP only.
                "udp" => named_ports(open.ports, &REMOTE_LOGIN_PORTS[1..]),
                _ => Vec::new(),
            };
            if exposed.is_empty() {
                continue;
            }
            out.push(Finding::new(
                &NET001,
                &open.ingress.at,
                &open.discriminator(),
                format!(
                    "security group {} allows {} to {}",
                    open.ingress.at.resource,
                    open.world_sources_text(),
                    describe_exposure(open.protocol, open.ports, &exposed)
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct WorldOpenAllPorts;

static NET002: RuleMeta = RuleMeta {
    code: "NET002",
    name: "world-open-all-ports",
    severity: Severity::Critical,
    practice: "No security group accepts every port from the whole internet.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A security group ingress rule from 0.0.0.0/0 or ::/0 with protocol all (-1), or with TCP or UDP and the full port range 0-65535.",
    why: "Every service on the instance, including ones bound by accident (debug servers, metrics endpoints, databases), becomes reachable from the internet; the security group no longer filters anything.",
    fix: "Replace the rule with rules for the specific ports the service needs (for example 443), and restrict their sources. Traffic from inside the VPC should name the peer security group instead of a CIDR.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_security_group" "app" {
  name   = "app"
  vpc_id = var.vpc_id
}

resource "aws_security_group_rule" "everything" {
  type              = "ingress"
  security_group_id = aws_security_group.app.id
  from_port         = 0
  to_port           = 0
  protocol          = "-1"
  cidr_blocks       = ["0.0.0.0/0"]
}
"#,
            passing: r#"resource "aws_security_group" "app" {
  name   = "app"
  vpc_id = var.vpc_id
}

resource "aws_security_group_rule" "https" {
  type              = "ingress"
  security_group_id = aws_security_group.app.id
  from_port         = 443
  to_port           = 443
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  AppSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: App servers
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 0
          ToPort: 65535
          CidrIp: 0.0.0.0/0
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  AppSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: App servers
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: 0.0.0.0/0
"#,
        },
    ],
    checkov: &["CKV_AWS_277"],
};

impl Rule for WorldOpenAllPorts {
    fn meta(&self) -> &'static RuleMeta {
        &NET002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for open in open_ingresses(unit) {
            // `Ports::All` is protocol all, or tcp/udp over 0-65535; any other protocol with
            // "all" ports (an ICMP type wildcard, say) is not a port exposure.
            if open.ports != Ports::All || !matches!(open.protocol, "all" | "tcp" | "udp") {
                continue;
            }
            let what = if open.protocol == "all" {
                "all traffic".to_string()
            } else {
                format!("all {} ports", open.protocol)
            };
            out.push(Finding::new(
                &NET002,
                &open.ingress.at,
                &open.discriminator(),
                format!(
                    "security group {} allows {} from {}",
                    open.ingress.at.resource,
                    what,
                    open.world_sources_text()
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct WorldOpenAdminPort;

static NET003: RuleMeta = RuleMeta {
    code: "NET003",
    name: "world-open-admin-port",
    severity: Severity::High,
    practice: "Databases and administration services are reachable only from inside the network.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A security group ingress rule from 0.0.0.0/0 or ::/0 whose TCP ports include a database port (1433, 1521, 3306, 5432, 5439, 5984, 6379, 9200, 9300, 11211, 27017) or an administration port (23, 2375, 2376, 2379, 2380, 5900, 5985, 5986, 10250). One finding per rule, naming every such port it opens. Rules that open every port are reported by NET002.",
    why: "These services are built to be used by trusted clients: many have weak or no authentication by default (Redis, Memcached, Elasticsearch, the Docker and kubelet APIs) and are mass-scanned for data theft, ransom and remote code execution.",
    fix: "Allow these ports only from the application's security group or a private CIDR. Reach databases and consoles from outside through a VPN, SSM port forwarding or a bastion.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_security_group" "db" {
  name   = "postgres"
  vpc_id = var.vpc_id

  ingress {
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"#,
            passing: r#"resource "aws_security_group" "db" {
  name   = "postgres"
  vpc_id = var.vpc_id

  ingress {
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [var.app_security_group_id]
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  CacheSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: Redis
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 6379
          ToPort: 6379
          CidrIp: 0.0.0.0/0
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  CacheSG:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: Redis
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 6379
          ToPort: 6379
          CidrIp: 10.0.0.0/16
"#,
        },
    ],
    checkov: &[],
};

impl Rule for WorldOpenAdminPort {
    fn meta(&self) -> &'static RuleMeta {
        &NET003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for open in open_ingresses(unit) {
            // All of these services speak TCP; every-port rules are NET002's.
            if open.ports == Ports::All || open.protocol != "tcp" {
                continue;
            }
            let exposed = named_ports(open.ports, &ADMIN_PORTS);
            if exposed.is_empty() {
                continue;
            }
            out.push(Finding::new(
                &NET003,
                &open.ingress.at,
                &open.discriminator(),
                format!(
                    "security group {} allows {} to {}",
                    open.ingress.at.resource,
                    open.world_sources_text(),
                    describe_exposure(open.protocol, open.ports, &exposed)
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct NaclWorldOpenAdmin;

static NET004: RuleMeta = RuleMeta {
    code: "NET004",
    name: "nacl-world-open-admin",
    severity: Severity::High,
    practice: "Network ACLs do not let the whole internet reach remote login ports or every port.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A network ACL entry that allows inbound traffic (egress false, which is the default) from 0.0.0.0/0 or ::/0 to port 22, port 3389, or all ports (protocol all or 0-65535). An ephemeral range for return traffic (from 1024 or above up to 65535) is not reported, although it contains 3389: stateless ACLs need it.",
    why: "The network ACL is the subnet-wide second line of defence: when it admits SSH, RDP or everything from the internet, a single permissive security group in the subnet is enough to expose hosts.",
    fix: "Deny or omit inbound 22, 3389 and all-port entries from 0.0.0.0/0 and ::/0, and allow only the ports public services need (for example 443 and the ephemeral range for return traffic). Allow administration ports from your VPN CIDR only.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_network_acl_rule" "ssh_in" {
  network_acl_id = var.network_acl_id
  rule_number    = 100
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = "0.0.0.0/0"
  from_port      = 22
  to_port        = 22
}
"#,
            passing: r#"resource "aws_network_acl_rule" "ssh_in" {
  network_acl_id = var.network_acl_id
  rule_number    = 100
  egress         = false
  protocol       = "tcp"
  rule_action    = "allow"
  cidr_block     = "10.20.0.0/16"
  from_port      = 22
  to_port        = 22
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  InboundAll:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref PublicAcl
      RuleNumber: 100
      Protocol: -1
      RuleAction: allow
      Egress: false
      CidrBlock: 0.0.0.0/0
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  InboundHttps:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref PublicAcl
      RuleNumber: 100
      Protocol: 6
      RuleAction: allow
      Egress: false
      CidrBlock: 0.0.0.0/0
      PortRange:
        From: 443
        To: 443
"#,
        },
    ],
    checkov: &["CKV_AWS_231", "CKV_AWS_232", "CKV_AWS_352"],
};

impl NaclWorldOpenAdmin {
    /// What the entry opens that this rule cares about, if anything.
    fn exposure(entry: &NetworkAclEntry) -> Option<String> {
        let (Known::Value(protocol), Known::Value(ports)) = (&entry.protocol, &entry.ports) else {
            return None;
        };
        if *ports == Ports::All && matches!(protocol.as_str(), "all" | "tcp" | "udp") {
            return Some(if protocol == "all" {
                "all ports of every protocol".into()
            } else {
                format!("all {protocol} ports")
            });
        }
        if !matches!(protocol.as_str(), "tcp" | "udp") {
            return None;
        }
        // NACLs are stateless: an inbound allow from the world over the ephemeral range
        // (1024-65535, 32768-65535, 49152-65535) is how return traffic gets back in. It
        // contains 3389, but reporting it would condemn the standard public-subnet setup.
        if matches!(*ports, Ports::Range(from, 65535) if from >= 1024) {
            return None;
        }
        let exposed = match protocol.as_str() {
            "tcp" => named_ports(*ports, &REMOTE_LOGIN_PORTS),
            // RDP also listens on UDP 3389; SSH is TCP only.
            _ => named_ports(*ports, &REMOTE_LOGIN_PORTS[1..]),
        };
        (!exposed.is_empty()).then(|| describe_exposure(protocol, *ports, &exposed))
    }
}

impl Rule for NaclWorldOpenAdmin {
    fn meta(&self) -> &'static RuleMeta {
        &NET004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::NetworkAclEntry(entry) = fact else {
                continue;
            };
            // Egress defaults to false (an inbound entry) in both Terraform and CloudFormation.
            let inbound = matches!(entry.egress, Known::Value(false) | Known::Absent);
            let allows =
                matches!(&entry.action, Known::Value(a) if a.eq_ignore_ascii_case("allow"));
            let Known::Value(cidr) = &entry.cidr else {
                continue;
            };
            if !inbound || !allows || !is_world_cidr(cidr) {
                continue;
            }
            let Some(exposure) = Self::exposure(entry) else {
                continue;
            };
            let (Known::Value(protocol), Known::Value(ports)) = (&entry.protocol, &entry.ports)
            else {
                continue;
            };
            out.push(Finding::new(
                &NET004,
                &entry.at,
                &ingress_discriminator(protocol, *ports, &[cidr.as_str()]),
                format!(
                    "network ACL entry {} allows inbound traffic from {} to {}",
                    entry.at.resource,
                    cidr.trim(),
                    exposure
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct PublicIpAssigned;

static NET005: RuleMeta = RuleMeta {
    code: "NET005",
    name: "public-ip-assigned",
    severity: Severity::Medium,
    practice: "Workloads run in private subnets and reach the internet through NAT or VPC endpoints, not through their own public IP.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An ECS service, ECS task set or launch template (or similar) that sets assign_public_ip / AssignPublicIp / associate_public_ip_address to true.",
    why: "A public IP makes the task or instance directly addressable from the internet, so its security group becomes the only barrier; private placement behind a load balancer removes that exposure entirely.",
    fix: "Set assign_public_ip to false (DISABLED) and run the workload in private subnets. Give it outbound access through a NAT gateway or VPC endpoints, and inbound access through a load balancer.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_service" "api" {
  name            = "api"
  cluster         = var.cluster_arn
  task_definition = var.task_definition_arn
  desired_count   = 2
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = var.public_subnet_ids
    security_groups  = [var.api_security_group_id]
    assign_public_ip = true
  }
}
"#,
            passing: r#"resource "aws_ecs_service" "api" {
  name            = "api"
  cluster         = var.cluster_arn
  task_definition = var.task_definition_arn
  desired_count   = 2
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.api_security_group_id]
    assign_public_ip = false
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Cluster:
    Type: String
  TaskDefinition:
    Type: String
  Subnet:
    Type: AWS::EC2::Subnet::Id
Resources:
  ApiService:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Ref TaskDefinition
      LaunchType: FARGATE
      DesiredCount: 2
      NetworkConfiguration:
        AwsvpcConfiguration:
          AssignPublicIp: ENABLED
          Subnets:
            - !Ref Subnet
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Cluster:
    Type: String
  TaskDefinition:
    Type: String
  Subnet:
    Type: AWS::EC2::Subnet::Id
Resources:
  ApiService:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Ref TaskDefinition
      LaunchType: FARGATE
      DesiredCount: 2
      NetworkConfiguration:
        AwsvpcConfiguration:
          AssignPublicIp: DISABLED
          Subnets:
            - !Ref Subnet
"#,
        },
    ],
    checkov: &["CKV_AWS_333", "CKV_AWS_88"],
};

impl Rule for PublicIpAssigned {
    fn meta(&self) -> &'static RuleMeta {
        &NET005
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::PublicIp(public) = fact else {
                continue;
            };
            if public.assign_public_ip == Known::Value(true) {
                out.push(Finding::new(
                    &NET005,
                    &public.at,
                    "assign_public_ip",
                    format!(
                        "{} {} assigns a public IP address",
                        public.what, public.at.resource
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{NetworkAclEntry, PublicIp, Site, Span, normalise_protocol};

    fn site(resource: &str, line: u32) -> Site {
        let file: Arc<str> = Arc::from("main.tf");
        Site::new(&file, resource, Span::line(line))
    }

    fn ingress(protocol: &str, from: i64, to: i64, cidrs: &[&str]) -> Fact {
        let protocol = Known::Value(normalise_protocol(protocol));
        let ports = Ports::from_rule(&protocol, &Known::Value(from), &Known::Value(to));
        Fact::Ingress(Ingress {
            at: site("aws_security_group.web", 5),
            protocol,
            ports,
            cidrs: cidrs.iter().map(|c| Known::Value(c.to_string())).collect(),
        })
    }

    fn run(rule: &dyn Rule, facts: Vec<Fact>) -> Vec<Finding> {
        let unit = Unit {
            facts,
            ..Unit::default()
        };
        let mut out = Vec::new();
        rule.check(&unit, &mut out);
        out
    }

    #[test]
    fn world_cidrs_are_prefix_zero_in_either_family() {
        assert!(is_world_cidr("0.0.0.0/0"));
        assert!(is_world_cidr(" ::/0 "));
        assert!(is_world_cidr("::0/0"));
        assert!(!is_world_cidr("10.0.0.0/8"));
        assert!(!is_world_cidr("0.0.0.0/1"));
        assert!(!is_world_cidr("0.0.0.0"));
        assert!(!is_world_cidr("var.cidr/0"));
    }

    #[test]
    fn net001_reports_ssh_from_ipv4_and_ipv6_world() {
        let found = run(
            &WorldOpenSshRdp,
            vec![ingress("tcp", 22, 22, &["0.0.0.0/0", "::/0"])],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "NET001");
        assert_eq!(
            found[0].message,
            "security group aws_security_group.web allows 0.0.0.0/0 and ::/0 to port 22 (SSH)"
        );
        let found = run(&WorldOpenSshRdp, vec![ingress("6", 3389, 3389, &["::/0"])]);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn net001_reports_ranges_covering_22_once() {
        let found = run(
            &WorldOpenSshRdp,
            vec![ingress("tcp", 20, 4000, &["0.0.0.0/0"])],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "security group aws_security_group.web allows 0.0.0.0/0 to ports 20-4000, which include 22 (SSH) and 3389 (RDP)"
        );
    }

    #[test]
    fn net001_ignores_private_sources_other_ports_and_unknowns() {
        let unknown_cidr = Fact::Ingress(Ingress {
            at: site("aws_security_group.web", 5),
            protocol: Known::Value("tcp".into()),
            ports: Known::Value(Ports::Range(22, 22)),
            cidrs: vec![Known::Unknown("var.allowed_cidr".into())],
        });
        let unknown_port = Fact::Ingress(Ingress {
            at: site("aws_security_group.web", 5),
            protocol: Known::Value("tcp".into()),
            ports: Known::Unknown("var.port".into()),
            cidrs: vec![Known::Value("0.0.0.0/0".into())],
        });
        let found = run(
            &WorldOpenSshRdp,
            vec![
                ingress("tcp", 22, 22, &["10.0.0.0/8"]),
                ingress("tcp", 443, 443, &["0.0.0.0/0"]),
                ingress("udp", 22, 22, &["0.0.0.0/0"]),
                unknown_cidr,
                unknown_port,
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn net001_leaves_all_port_rules_to_net002() {
        let facts = vec![
            ingress("-1", 0, 0, &["0.0.0.0/0"]),
            ingress("tcp", 0, 65535, &["0.0.0.0/0"]),
        ];
        assert!(run(&WorldOpenSshRdp, facts.clone()).is_empty());
        assert_eq!(run(&WorldOpenAllPorts, facts).len(), 2);
    }

    #[test]
    fn net002_reports_all_traffic_but_not_icmp_or_single_ports() {
        let found = run(&WorldOpenAllPorts, vec![ingress("-1", 0, 0, &["::/0"])]);
        assert_eq!(
            found[0].message,
            "security group aws_security_group.web allows all traffic from ::/0"
        );
        let found = run(
            &WorldOpenAllPorts,
            vec![
                ingress("icmp", -1, -1, &["0.0.0.0/0"]),
                ingress("tcp", 443, 443, &["0.0.0.0/0"]),
                ingress("-1", 0, 0, &["10.0.0.0/8"]),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn net003_names_every_admin_port_in_one_finding() {
        let found = run(
            &WorldOpenAdminPort,
            vec![ingress("tcp", 3000, 6400, &["0.0.0.0/0"])],
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("3306 (MySQL), 5432 (PostgreSQL), 5439 (Redshift), 5900 (VNC), 5984 (CouchDB), 5985 (WinRM), 5986 (WinRM (HTTPS)) and 6379 (Redis)"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.contains("6379 (Redis)"));
    }

    #[test]
    fn net003_ignores_web_ports_all_ports_and_private_sources() {
        let found = run(
            &WorldOpenAdminPort,
            vec![
                ingress("tcp", 443, 443, &["0.0.0.0/0"]),
                ingress("-1", 0, 0, &["0.0.0.0/0"]),
                ingress("tcp", 5432, 5432, &["172.16.0.0/12"]),
                ingress("udp", 3306, 3306, &["0.0.0.0/0"]),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn discriminator_is_stable_when_lines_move() {
        let a = run(
            &WorldOpenSshRdp,
            vec![ingress("tcp", 22, 22, &["0.0.0.0/0"])],
        );
        let mut moved = ingress("tcp", 22, 22, &["0.0.0.0/0"]);
        if let Fact::Ingress(i) = &mut moved {
            i.at = site("aws_security_group.web", 40);
        }
        let b = run(&WorldOpenSshRdp, vec![moved]);
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
        let other = run(&WorldOpenSshRdp, vec![ingress("tcp", 22, 22, &["::/0"])]);
        assert_ne!(a[0].fingerprint, other[0].fingerprint);
    }

    fn nacl(
        egress: Known<bool>,
        action: &str,
        protocol: &str,
        from: i64,
        to: i64,
        cidr: &str,
    ) -> Fact {
        let protocol = Known::Value(normalise_protocol(protocol));
        let ports = Ports::from_rule(&protocol, &Known::Value(from), &Known::Value(to));
        Fact::NetworkAclEntry(NetworkAclEntry {
            at: site("aws_network_acl_rule.in", 3),
            egress,
            action: Known::Value(action.into()),
            protocol,
            ports,
            cidr: Known::Value(cidr.into()),
        })
    }

    #[test]
    fn net004_reports_inbound_allow_to_ssh_rdp_or_everything() {
        let found = run(
            &NaclWorldOpenAdmin,
            vec![
                nacl(Known::Value(false), "allow", "tcp", 22, 22, "0.0.0.0/0"),
                nacl(Known::Absent, "allow", "-1", 0, 0, "::/0"),
                nacl(
                    Known::Value(false),
                    "allow",
                    "tcp",
                    1024,
                    65535,
                    "0.0.0.0/0",
                ),
                nacl(Known::Value(false), "allow", "tcp", 3000, 4000, "0.0.0.0/0"),
            ],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "network ACL entry aws_network_acl_rule.in allows inbound traffic from 0.0.0.0/0 to port 22 (SSH)",
                "network ACL entry aws_network_acl_rule.in allows inbound traffic from ::/0 to all ports of every protocol",
                "network ACL entry aws_network_acl_rule.in allows inbound traffic from 0.0.0.0/0 to ports 3000-4000, which include 3389 (RDP)",
            ]
        );
    }

    #[test]
    fn net004_ignores_egress_deny_private_and_unknown() {
        let mut unknown_cidr = nacl(Known::Value(false), "allow", "tcp", 22, 22, "0.0.0.0/0");
        if let Fact::NetworkAclEntry(e) = &mut unknown_cidr {
            e.cidr = Known::Unknown("var.cidr".into());
        }
        let found = run(
            &NaclWorldOpenAdmin,
            vec![
                nacl(Known::Value(true), "allow", "-1", 0, 0, "0.0.0.0/0"),
                nacl(
                    Known::Unknown("var.egress".into()),
                    "allow",
                    "-1",
                    0,
                    0,
                    "0.0.0.0/0",
                ),
                nacl(Known::Value(false), "deny", "tcp", 22, 22, "0.0.0.0/0"),
                nacl(Known::Value(false), "allow", "tcp", 22, 22, "10.0.0.0/8"),
                nacl(Known::Value(false), "allow", "tcp", 443, 443, "0.0.0.0/0"),
                nacl(Known::Value(false), "allow", "udp", 22, 22, "0.0.0.0/0"),
                nacl(
                    Known::Value(false),
                    "allow",
                    "tcp",
                    32768,
                    65535,
                    "0.0.0.0/0",
                ),
                unknown_cidr,
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn net005_reports_only_a_known_true() {
        let public = |value: Known<bool>| {
            Fact::PublicIp(PublicIp {
                at: site("aws_ecs_service.api", 8),
                what: "ECS service".into(),
                assign_public_ip: value,
            })
        };
        let found = run(
            &PublicIpAssigned,
            vec![
                public(Known::Value(true)),
                public(Known::Value(false)),
                public(Known::Absent),
                public(Known::Unknown("var.public".into())),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "ECS service aws_ecs_service.api assigns a public IP address"
        );
    }
}

/// Checks shared by the NET, IAM, ECR, ENC and LOG families: every rule's documentation is
/// complete and its examples are well-formed files of the format their name announces.
#[cfg(test)]
pub(crate) mod meta_checks {
    use std::sync::Arc;

    use saphyr::{LoadableYamlNode, Scalar, Yaml};

    use crate::model::{Fact, PolicyKind, Site, Span};
    use crate::rules::{Format, Rule};

    /// A YAML tree as JSON, for handing embedded policy documents to the shared IAM reader.
    /// Tagged nodes (`!Ref`, `!Sub`) become null: their value is not known.
    fn yaml_to_json(yaml: &Yaml) -> serde_json::Value {
        use serde_json::Value as J;
        match yaml {
            Yaml::Value(Scalar::Boolean(b)) => J::Bool(*b),
            Yaml::Value(Scalar::Integer(i)) => J::from(*i),
            Yaml::Value(Scalar::FloatingPoint(f)) => J::from(f.into_inner()),
            Yaml::Value(Scalar::String(s)) => J::String(s.to_string()),
            Yaml::Sequence(items) => items.iter().map(yaml_to_json).collect(),
            Yaml::Mapping(map) => map
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), yaml_to_json(v))))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            _ => J::Null,
        }
    }

    /// The policies a CloudFormation example holds, read the way a front end would: policy
    /// documents of IAM resources are identity policies, AssumeRolePolicyDocument is a trust
    /// policy, and an ECR repository's RepositoryPolicyText is a resource policy attached to it.
    pub(crate) fn cloudformation_policies(text: &str) -> Vec<Fact> {
        let docs = Yaml::load_from_str(text).unwrap_or_default();
        let file: Arc<str> = Arc::from("template.yaml");
        let mut facts = Vec::new();
        let Some(resources) = docs
            .first()
            .and_then(|d| d.as_mapping_get("Resources"))
            .and_then(Yaml::as_mapping)
        else {
            return facts;
        };
        for (id, resource) in resources {
            let (Some(id), Some(props)) = (id.as_str(), resource.as_mapping_get("Properties"))
            else {
                continue;
            };
            let kind = resource
                .as_mapping_get("Type")
                .and_then(Yaml::as_str)
                .unwrap_or_default();
            let mut documents = Vec::new();
            if let Some(doc) = props.as_mapping_get("PolicyDocument") {
                // IAM policies say what an identity may do; a VPC endpoint's or a queue's
                // PolicyDocument governs that resource.
                if kind.starts_with("AWS::IAM::") {
                    documents.push((PolicyKind::Identity, doc, None));
                } else {
                    documents.push((PolicyKind::Resource, doc, Some(kind.to_string())));
                }
            }
            if let Some(doc) = props.as_mapping_get("AssumeRolePolicyDocument") {
                documents.push((PolicyKind::Trust, doc, None));
            }
            if let Some(doc) = props.as_mapping_get("RepositoryPolicyText") {
                documents.push((PolicyKind::Resource, doc, Some(kind.to_string())));
            }
            for inline in props
                .as_mapping_get("Policies")
                .and_then(Yaml::as_vec)
                .into_iter()
                .flatten()
            {
                if let Some(doc) = inline.as_mapping_get("PolicyDocument") {
                    documents.push((PolicyKind::Identity, doc, None));
                }
            }
            for (kind, doc, attached_to) in documents {
                let node = crate::formats::json::from_serde(&yaml_to_json(doc), Span::line(1));
                let site = Site::new(&file, id, Span::line(1));
                let mut policy = crate::formats::iam::policy_from_node(site, kind, &node);
                policy.attached_to = attached_to;
                facts.push(Fact::Policy(policy));
            }
        }
        facts
    }

    fn file_for(format: Format) -> &'static str {
        match format {
            Format::Terraform => "main.tf",
            Format::CloudFormation => "template.yaml",
            Format::IamPolicy => "policy.json",
            Format::Kubernetes => "deployment.yaml",
            Format::Dockerfile => "Dockerfile",
            Format::EcsTaskDefinition => "taskdef.json",
            Format::AwsConfig => "config",
            Format::AnyFile => "",
        }
    }

    fn assert_well_formed(code: &str, file: &str, text: &str) {
        if file.ends_with(".tf") {
            if let Err(e) = hcl_edit::parser::parse_body(text) {
                panic!("{code} {file}: not valid HCL: {e}");
            }
        } else if file.ends_with(".yaml") {
            let docs = Yaml::load_from_str(text)
                .unwrap_or_else(|e| panic!("{code} {file}: not valid YAML: {e}"));
            let [doc] = docs.as_slice() else {
                panic!("{code} {file}: expected one YAML document");
            };
            assert!(
                !doc.as_mapping_get("Resources").is_none_or(Yaml::is_null),
                "{code} {file}: a template needs Resources"
            );
        } else if file.ends_with(".json") {
            let doc: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{code} {file}: not valid JSON: {e}"));
            assert!(
                doc.get("Statement").is_some(),
                "{code} {file}: no Statement"
            );
        } else {
            panic!("{code}: unexpected example file {file}");
        }
    }

    /// Documentation complete, one example per format, examples well-formed and distinct.
    pub(crate) fn assert_complete(rules: &[&dyn Rule], prefixes: &[&str]) {
        for rule in rules {
            let meta = rule.meta();
            let code = meta.code;
            assert!(
                prefixes.iter().any(|p| code.starts_with(p))
                    && code.len() == 6
                    && code[3..].bytes().all(|b| b.is_ascii_digit()),
                "{code}: code shape"
            );
            assert!(
                meta.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{code}: name must be kebab-case"
            );
            for (field, text) in [
                ("practice", meta.practice),
                ("what", meta.what),
                ("why", meta.why),
                ("fix", meta.fix),
            ] {
                assert!(
                    text.len() > 20 && text.ends_with('.'),
                    "{code}: {field} must be a full sentence"
                );
            }
            assert!(
                meta.hint().len() < meta.fix.len(),
                "{code}: fix needs a hint sentence and more"
            );
            assert!(!meta.formats.is_empty(), "{code}: formats");
            for format in meta.formats {
                assert!(
                    meta.examples.iter().any(|e| e.file == file_for(*format)),
                    "{code}: no {} example for {format:?}",
                    file_for(*format)
                );
            }
            for example in meta.examples {
                assert_ne!(example.failing, example.passing, "{code} {}", example.file);
                assert_well_formed(code, example.file, example.failing);
                assert_well_formed(code, example.file, example.passing);
            }
            for id in meta.checkov {
                assert!(
                    id.starts_with("CKV_AWS_") || id.starts_with("CKV2_AWS_"),
                    "{code}: {id}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "not valid HCL")]
    fn malformed_terraform_examples_are_caught() {
        assert_well_formed(
            "T",
            "main.tf",
            "resource \"aws_vpc\" \"x\" {\n  cidr_block = \n",
        );
    }

    #[test]
    #[should_panic(expected = "not valid YAML")]
    fn malformed_template_examples_are_caught() {
        assert_well_formed("T", "template.yaml", "Resources:\n  A: [1,\n");
    }

    #[test]
    fn network_rules_are_documented() {
        assert_complete(super::RULES, &["NET"]);
        assert_eq!(super::RULES.len(), 5);
    }
}
