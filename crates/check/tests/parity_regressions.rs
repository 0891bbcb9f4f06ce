//! Where checkov 3.3.30 reports a finding on the shared corpora that airlock does not, and
//! checkov is wrong (docs/parity.md explains each), a test here keeps airlock right. Each
//! case is paired with the nearby mistake airlock must still report, so the quiet half
//! cannot pass by the rule having stopped working.

use airlock_check::{ScanOptions, SourceFile, scan_sources};

/// The rule codes airlock reports on one file.
fn rules_on(path: &str, text: &str) -> Vec<String> {
    let result = scan_sources(&[SourceFile::new(path, text)], &ScanOptions::default());
    assert!(result.errors.is_empty(), "{path}: {:?}", result.errors);
    result.findings.iter().map(|f| f.rule.to_string()).collect()
}

fn template(resources: &str) -> String {
    format!("AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n{resources}")
}

/// checkov CKV_AWS_32 on ExpandStack/ecr-repo.yaml:55: the only statement with Principal `*`
/// is a Deny (refusing requests without TLS), which opens nothing.
#[test]
fn a_deny_for_everyone_in_a_repository_policy_is_not_public() {
    let policy = |effect: &str| {
        template(&format!(
            r#"  Repo:
    Type: AWS::ECR::Repository
    Properties:
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      RepositoryPolicyText:
        Version: "2012-10-17"
        Statement:
          - Sid: AllowSSLRequestsOnly
            Effect: {effect}
            Principal: "*"
            Action: ecr:*
            Condition:
              Bool:
                aws:SecureTransport: "false"
"#
        ))
    };
    assert!(!rules_on("ecr.yaml", &policy("Deny")).contains(&"ECR003".into()));
    assert!(rules_on("ecr.yaml", &policy("Allow")).contains(&"ECR003".into()));
}

/// checkov CKV_AWS_27 on SQSStandardQueue.json, SQSFIFOQueue.json and events.yaml: SQS has
/// encrypted new queues with SSE-SQS by default since 2022; only an explicit `false` opts out.
#[test]
fn a_queue_that_leaves_sse_sqs_unset_is_encrypted() {
    let queue = |extra: &str| {
        template(&format!(
            "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: orders\n{extra}"
        ))
    };
    assert!(!rules_on("sqs.yaml", &queue("")).contains(&"ENC001".into()));
    assert!(
        rules_on("sqs.yaml", &queue("      SqsManagedSseEnabled: false\n"))
            .contains(&"ENC001".into())
    );
}

/// checkov CKV_K8S_14 on nodesjs-mongodb/web-controller.yaml and flexvolume/deploy/ds.yaml:
/// `<YOUR-CONTAINER>` is a placeholder to fill in, not an image reference.
#[test]
fn a_placeholder_image_is_not_an_unpinned_image() {
    let pod = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: {image}\n"
        )
    };
    assert!(!rules_on("pod.yaml", &pod("\"<YOUR-CONTAINER>\"")).contains(&"K8S010".into()));
    assert!(rules_on("pod.yaml", &pod("nginx")).contains(&"K8S010".into()));
}

/// checkov CKV_SECRET_6 on RDS_PIOPS.yaml:35 and two other RDS templates: the password is
/// `!Ref DBPassword`, a NoEcho parameter given at deploy time, not a value in the code.
#[test]
fn a_password_taken_from_a_no_echo_parameter_is_not_a_literal() {
    let db = |password: &str| {
        format!(
            r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  DBPassword:
    Type: String
    NoEcho: true
Resources:
  DB:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: mysql
      MasterUsername: admin
      MasterUserPassword: {password}
"#
        )
    };
    let quiet = rules_on("db.yaml", &db("!Ref DBPassword"));
    assert!(!quiet.iter().any(|r| r.starts_with("SEC")), "{quiet:?}");
    assert!(rules_on("db.yaml", &db("myPassword")).contains(&"SEC003".into()));
}

/// checkov CKV_SECRET_6 on amzn2-greengrass-cfn.yml:388 and :406: inline Lambda code that
/// assigns `privateKey = response['keyPair']['PrivateKey']` reads a value at run time.
/// airlock does not read inline Lambda code; it reads EC2 user data, scripts with
/// assignments of their own, and there the same line stays quiet while a literal does not.
#[test]
fn a_script_reading_a_key_from_a_response_holds_no_secret() {
    let instance = |line: &str| {
        template(&format!(
            r#"  Host:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ami-12345678
      UserData:
        Fn::Base64: |
          #!/usr/bin/env python3
          import boto3
          response = boto3.client('iot').create_keys_and_certificate(setAsActive=True)
          {line}
"#
        ))
    };
    let quiet = rules_on(
        "host.yaml",
        &instance("privateKey = response['keyPair']['PrivateKey']"),
    );
    assert!(!quiet.iter().any(|r| r.starts_with("SEC")), "{quiet:?}");
    let loud = rules_on("host.yaml", &instance("api_password = \"Tr0ub4dor-and-3\""));
    assert!(loud.contains(&"SEC003".into()), "{loud:?}");
}

/// checkov CKV_DOCKER_4 on eleven ADD lines of kubernetes-examples: ADD of a file from the
/// build context copies it, as COPY does; the risk is ADD fetching a URL unchecked.
#[test]
fn add_of_a_local_file_is_not_a_download() {
    let dockerfile = |add: &str| {
        format!(
            "FROM alpine:3.20@sha256:{}\n{add}\nUSER 1000\nHEALTHCHECK CMD true\n",
            "a".repeat(64)
        )
    };
    let quiet = rules_on("Dockerfile", &dockerfile("ADD run.sh /run.sh"));
    assert!(!quiet.contains(&"DKR002".into()), "{quiet:?}");
    let loud = rules_on(
        "Dockerfile",
        &dockerfile("ADD https://example.com/tool.tar.gz /opt/"),
    );
    assert!(loud.contains(&"DKR002".into()), "{loud:?}");
}
