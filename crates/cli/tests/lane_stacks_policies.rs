//! What the lane's CloudFormation templates grant, read from the templates themselves: the
//! policies moto does not enforce (resource policies, key policies, conditions) are checked
//! here statement by statement, evaluated with each template's own intrinsics.

mod stacks;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use stacks::{CI_TEMPLATE, PRODUCTION_TEMPLATE, Scope, Template, strings};

const CI_ACCOUNT: &str = "111111111111";
const PRODUCTION_ACCOUNT: &str = "222222222222";
const REGION: &str = "eu-west-1";
const CI_ROLE: &str = "arn:aws:iam::111111111111:role/airlock-ci";
const TOPIC: &str = "arn:aws:sns:eu-west-1:222222222222:airlock-lane";
const QUEUE: &str = "arn:aws:sqs:eu-west-1:222222222222:airlock-feedback";
const DISPATCHER_ROLE: &str = "arn:aws:iam::222222222222:role/dispatcher";
const TASK_ROLE: &str = "arn:aws:iam::222222222222:role/task";

/// The CI stack evaluated as deployed with `extra` parameters.
/// The CI stack for a Jenkins role (no OIDC provider).
fn jenkins_scope(template: &Template) -> Scope<'_> {
    ci_scope(
        template,
        &[(
            "TrustedPrincipalArn",
            "arn:aws:iam::111111111111:role/jenkins",
        )],
        &ci_reference,
        &ci_attribute,
    )
}

fn ci_scope<'a>(
    template: &'a Template,
    extra: &[(&str, &str)],
    reference: &'a dyn Fn(&str) -> Option<String>,
    attribute: &'a dyn Fn(&str, &str) -> Option<String>,
) -> Scope<'a> {
    let mut params: BTreeMap<String, Value> = [
        ("ProductionAccountId", PRODUCTION_ACCOUNT),
        ("ProductionRegion", REGION),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect();
    for (k, v) in extra {
        params.insert(k.to_string(), json!(v));
    }
    Scope {
        template,
        params,
        region: REGION.into(),
        account: CI_ACCOUNT.into(),
        stack_name: "airlock-ci".into(),
        reference,
        attribute,
    }
    .with_defaults()
}

fn ci_reference(name: &str) -> Option<String> {
    match name {
        "CiRole" => Some("airlock-ci".into()),
        "SigningKey" => Some("signing-key-id".into()),
        _ => None,
    }
}

fn ci_attribute(resource: &str, attribute: &str) -> Option<String> {
    match (resource, attribute) {
        ("CiRole", "Arn") => Some(CI_ROLE.into()),
        ("SigningKey", "Arn") => Some("arn:aws:kms:eu-west-1:111111111111:key/signing".into()),
        _ => None,
    }
}

fn production_reference(name: &str) -> Option<String> {
    Some(match name {
        "Topic" => TOPIC.into(),
        "FeedbackQueue" => {
            "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback".into()
        }
        "LaneTable" => "airlock-lane-table".into(),
        "RunnerTaskDefinition" => {
            "arn:aws:ecs:eu-west-1:222222222222:task-definition/airlock-deploy:1".into()
        }
        "DispatchConfig" => "/airlock/airlock-production/dispatch".into(),
        "TaskLogGroup" => "/airlock/airlock-lane/deploy".into(),
        "DispatcherFunction" => "airlock-dispatch".into(),
        other => format!("ref-of-{other}"),
    })
}

fn production_attribute(resource: &str, attribute: &str) -> Option<String> {
    Some(match (resource, attribute) {
        ("FeedbackQueue", "Arn") => QUEUE.into(),
        ("DispatcherRole", "Arn") => DISPATCHER_ROLE.into(),
        ("TaskRole", "Arn") => TASK_ROLE.into(),
        ("Cluster", "Arn") => "arn:aws:ecs:eu-west-1:222222222222:cluster/airlock-lane".into(),
        ("RunnerSecurityGroup", "GroupId") => "sg-0123456789abcdef0".into(),
        ("LaneKey", "Arn") => "arn:aws:kms:eu-west-1:222222222222:key/lane".into(),
        (r, a) => format!("arn:aws:test:::{r}.{a}"),
    })
}

fn production_scope(template: &Template) -> Scope<'_> {
    let params: BTreeMap<String, Value> = [
        ("CiAccountId", json!(CI_ACCOUNT)),
        (
            "SigningKeyArn",
            json!("arn:aws:kms:eu-west-1:111111111111:key/signing"),
        ),
        ("SigningPublicKey", json!(test_public_key_base64())),
        ("VpcId", json!("vpc-0123456789abcdef0")),
        (
            "SubnetIds",
            json!(["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]),
        ),
        (
            "RunnerImage",
            json!(format!(
                "222222222222.dkr.ecr.eu-west-1.amazonaws.com/runner@sha256:{}",
                "a".repeat(64)
            )),
        ),
        ("JobCommand", json!(["/deploy/apply.sh"])),
        (
            "JobParams",
            json!(r#"{ VERSION = { pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+" } }"#),
        ),
        (
            "TaskPolicyArn",
            json!("arn:aws:iam::222222222222:policy/deploy"),
        ),
        ("DispatcherCodeBucket", json!("artifacts")),
        ("DispatcherCodeKey", json!("airlock-dispatch.zip")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Scope {
        template,
        params,
        region: REGION.into(),
        account: PRODUCTION_ACCOUNT.into(),
        stack_name: "airlock-production".into(),
        reference: &production_reference,
        attribute: &production_attribute,
    }
    .with_defaults()
}

fn test_public_key_base64() -> String {
    use p256::pkcs8::EncodePublicKey as _;
    let key = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("valid scalar");
    let der = key.verifying_key().to_public_key_der().expect("der");
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der.as_bytes())
}

/// A request for `action` by `principal` (an IAM role ARN), over TLS.
struct Request<'a> {
    principal: &'a str,
    action: &'a str,
}

fn action_matches(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

fn principal_matches(principal: &Value, request: &Request<'_>) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(map) => map.get("AWS").is_some_and(|aws| {
            strings(aws).iter().any(|p| {
                p == "*"
                    || p == request.principal
                    // An account's root principal stands for every principal of the account.
                    || p.strip_suffix(":root").is_some_and(|root| {
                        root.split(':').nth(4) == request.principal.split(':').nth(4)
                    })
            })
        }),
        _ => false,
    }
}

/// Whether the statement's conditions hold for the request; only the operators and keys the
/// lane's resource policies use are known, anything else fails the test.
fn conditions_hold(condition: Option<&Value>, request: &Request<'_>) -> bool {
    let Some(condition) = condition.and_then(Value::as_object) else {
        return true;
    };
    condition.iter().all(|(operator, tests)| {
        tests
            .as_object()
            .expect("condition block")
            .iter()
            .all(|(key, values)| {
                let values = strings(values);
                match (operator.as_str(), key.as_str()) {
                    ("ArnNotEquals", "aws:PrincipalArn") => {
                        !values.iter().any(|v| v == request.principal)
                    }
                    ("ArnEquals", "aws:PrincipalArn") => {
                        values.iter().any(|v| v == request.principal)
                    }
                    ("Bool", "aws:SecureTransport") => values == ["true"],
                    other => panic!("condition {other:?} is not modelled by this test"),
                }
            })
    })
}

/// IAM's evaluation of one resource policy for one request: an explicit deny wins, else an
/// allow is needed.
fn resource_policy_allows(policy: &Value, request: &Request<'_>) -> bool {
    let statements = policy["Statement"].as_array().expect("Statement list");
    let applies = |s: &Value| {
        strings(&s["Action"])
            .iter()
            .any(|a| action_matches(a, request.action))
            && principal_matches(&s["Principal"], request)
            && conditions_hold(s.get("Condition"), request)
    };
    let denied = statements
        .iter()
        .any(|s| s["Effect"] == "Deny" && applies(s));
    let allowed = statements
        .iter()
        .any(|s| s["Effect"] == "Allow" && applies(s));
    allowed && !denied
}

fn policy_of(template: &Template, scope: &Scope<'_>, logical_id: &str, key: &str) -> Value {
    scope.eval(&template.resource(logical_id)["Properties"][key])
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

#[test]
fn only_ci_role_may_publish_to_the_topic_and_everybody_else_is_denied_explicitly() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let policy = policy_of(&template, &scope, "TopicPolicy", "PolicyDocument");

    let ci = Request {
        principal: CI_ROLE,
        action: "sns:Publish",
    };
    assert!(resource_policy_allows(&policy, &ci), "{policy:#}");
    for other in [
        "arn:aws:iam::111111111111:role/another-ci-role",
        "arn:aws:iam::222222222222:role/admin",
        DISPATCHER_ROLE,
        TASK_ROLE,
        "arn:aws:iam::333333333333:role/airlock-ci",
    ] {
        let request = Request {
            principal: other,
            action: "sns:Publish",
        };
        assert!(!resource_policy_allows(&policy, &request), "{other}");
    }
    // The deny is explicit, so that no identity policy in the production account can open
    // the topic: a Deny statement for every principal but CI's role.
    let explicit = statements(&policy).into_iter().any(|s| {
        s["Effect"] == "Deny"
            && s["Principal"] == "*"
            && strings(&s["Action"]).contains(&"sns:Publish".to_string())
            && s["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == CI_ROLE
    });
    assert!(explicit, "{policy:#}");
    // No statement lets CI's role (or anyone) subscribe or change the topic.
    for action in [
        "sns:Subscribe",
        "sns:SetTopicAttributes",
        "sns:AddPermission",
    ] {
        let request = Request {
            principal: CI_ROLE,
            action,
        };
        assert!(!resource_policy_allows(&policy, &request), "{action}");
    }
}

#[test]
fn only_ci_role_may_receive_and_delete_and_only_the_lane_may_send() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let policy = policy_of(&template, &scope, "FeedbackQueuePolicy", "PolicyDocument");
    let allows = |principal: &str, action: &str| {
        resource_policy_allows(&policy, &Request { principal, action })
    };
    for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage"] {
        assert!(allows(CI_ROLE, action), "{action}");
        for other in [
            DISPATCHER_ROLE,
            TASK_ROLE,
            "arn:aws:iam::222222222222:role/admin",
            "arn:aws:iam::111111111111:role/another-ci-role",
        ] {
            assert!(!allows(other, action), "{other} {action}");
        }
    }
    assert!(allows(DISPATCHER_ROLE, "sqs:SendMessage"));
    assert!(allows(TASK_ROLE, "sqs:SendMessage"));
    assert!(
        !allows(CI_ROLE, "sqs:SendMessage"),
        "CI must not forge feedback"
    );
    assert!(!allows(
        "arn:aws:iam::222222222222:role/admin",
        "sqs:SendMessage"
    ));
    assert!(!allows(CI_ROLE, "sqs:PurgeQueue"));
}

/// The condition on every `kms:Sign` grant: `airlock deploy` and `airlock lane doctor` send
/// the request's SHA-256 as a `DIGEST` (KMS takes at most 4096 bytes as `RAW`), so a grant
/// that allows only `RAW` would refuse every request.
fn signs_request_digests_only() -> Value {
    json!({"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST"})
}

/// Every statement of CI's role: its inline policies and the separate policy resources that
/// name it.
fn ci_role_statements(template: &Template, scope: &Scope<'_>) -> Vec<Value> {
    let mut all = Vec::new();
    let role = scope.eval(&template.resource("CiRole")["Properties"]);
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "CI's role must hold only what the template says"
    );
    for policy in role["Policies"].as_array().cloned().unwrap_or_default() {
        all.extend(statements(&policy["PolicyDocument"]));
    }
    for id in template
        .of_type("AWS::IAM::Policy")
        .into_iter()
        .chain(template.of_type("AWS::IAM::ManagedPolicy"))
    {
        let props = scope.eval(&template.resource(&id)["Properties"]);
        if strings(&props["Roles"]).contains(&"airlock-ci".to_string()) {
            all.extend(statements(&props["PolicyDocument"]));
        }
    }
    all
}

#[test]
fn ci_role_holds_exactly_the_lane_rights_and_nothing_that_reaches_production() {
    let template = Template::load(CI_TEMPLATE);
    let scope = jenkins_scope(&template);
    let statements = ci_role_statements(&template, &scope);
    assert!(!statements.is_empty());
    let mut actions = BTreeSet::new();
    for s in &statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{s}"
        );
        for action in strings(&s["Action"]) {
            assert!(!action.contains('*'), "wildcard action {action}");
            let lower = action.to_ascii_lowercase();
            assert!(
                !lower.starts_with("ecs:") && !lower.starts_with("iam:"),
                "{action}"
            );
            assert_ne!(lower, "sns:subscribe");
            actions.insert(action);
        }
        for resource in strings(&s["Resource"]) {
            assert_ne!(resource, "*", "{s}");
            // The one wildcard, the production key's id, is usable only through SNS and only
            // for the lane's topic.
            if resource.contains('*') {
                assert_eq!(
                    resource,
                    format!("arn:aws:kms:{REGION}:{PRODUCTION_ACCOUNT}:key/*"),
                    "{s}"
                );
                let condition = &s["Condition"]["StringEquals"];
                assert_eq!(condition["kms:ViaService"], "sns.eu-west-1.amazonaws.com");
                assert_eq!(condition["kms:EncryptionContext:aws:sns:topicArn"], TOPIC);
            }
        }
    }
    let expected: BTreeSet<String> = [
        "sns:Publish",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "kms:Sign",
        "kms:GetPublicKey",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(actions, expected);

    let resource_of = |action: &str| -> Vec<String> {
        statements
            .iter()
            .filter(|s| strings(&s["Action"]).iter().any(|a| a == action))
            .flat_map(|s| strings(&s["Resource"]))
            .collect()
    };
    assert_eq!(resource_of("sns:Publish"), [TOPIC]);
    assert_eq!(resource_of("sqs:ReceiveMessage"), [QUEUE]);
    assert_eq!(resource_of("sqs:DeleteMessage"), [QUEUE]);
    let sign = statements
        .iter()
        .find(|s| strings(&s["Action"]) == ["kms:Sign"])
        .expect("kms:Sign statement");
    assert_eq!(
        sign["Condition"]["StringEquals"],
        signs_request_digests_only()
    );
    assert_eq!(
        strings(&sign["Resource"]),
        ["arn:aws:kms:eu-west-1:111111111111:key/signing"]
    );
}

#[test]
fn signing_key_policy_gives_the_account_administration_only_and_signing_to_ci_role_only() {
    let template = Template::load(CI_TEMPLATE);
    let scope = jenkins_scope(&template);
    let key = scope.eval(&template.resource("SigningKey")["Properties"]);
    assert_eq!(key["KeySpec"], "ECC_NIST_P256");
    assert_eq!(key["KeyUsage"], "SIGN_VERIFY");
    // What keeps a key manageable (and passes KMS's lockout check) without using it: none of
    // these signs, encrypts, decrypts or creates a grant that could.
    let administration: BTreeSet<&str> = [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:GetPublicKey",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        "kms:EnableKey",
        "kms:DisableKey",
        "kms:ListGrants",
        "kms:RevokeGrant",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
    ]
    .into_iter()
    .collect();
    let root = "arn:aws:iam::111111111111:root";
    let mut signers = Vec::new();
    for s in statements(&key["KeyPolicy"]) {
        assert_eq!(s["Effect"], "Allow", "{s}");
        let actions = strings(&s["Action"]);
        for action in &actions {
            assert!(!action.contains('*'), "wildcard action {action} in {s}");
        }
        let principals = strings(&s["Principal"]["AWS"]);
        assert!(
            s["Principal"].get("Service").is_none() && !principals.is_empty(),
            "{s}"
        );
        if principals.iter().any(|p| p == root) {
            for action in &actions {
                assert!(
                    administration.contains(action.as_str()),
                    "the account root may {action}"
                );
            }
        } else {
            assert_eq!(principals, [CI_ROLE], "{s}");
            for action in &actions {
                assert!(
                    ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"].contains(&action.as_str()),
                    "{action}"
                );
            }
        }
        if actions.iter().any(|a| a == "kms:Sign") {
            assert_eq!(s["Condition"]["StringEquals"], signs_request_digests_only());
            signers.extend(principals);
        }
    }
    assert_eq!(signers, [CI_ROLE]);
}

#[test]
fn ci_json_and_the_terraform_module_let_ci_sign_request_digests_only() {
    let root = stacks::workspace_root();
    let policy: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/policies/ci.json")).expect("ci.json"),
    )
    .expect("JSON");
    let signs: Vec<Value> = statements(&policy)
        .iter()
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == "kms:Sign"))
        .map(|s| s["Condition"]["StringEquals"].clone())
        .collect();
    assert_eq!(signs, [signs_request_digests_only()]);

    // No HCL evaluator here; the module's statements are plain blocks, one attribute a line,
    // so the lines are compared with their spacing normalised.
    let module = std::fs::read_to_string(root.join("deploy/terraform/modules/airlock-ci/main.tf"))
        .expect("main.tf");
    let lines: Vec<String> = module
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let sign_grants = lines
        .iter()
        .filter(|line| line.starts_with("actions =") && line.contains("\"kms:Sign\""))
        .count();
    assert_eq!(sign_grants, 2, "the key policy's grant and the CI role's");
    let message_types: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[0] == "variable = \"kms:MessageType\"")
        .map(|pair| pair[1].as_str())
        .collect();
    assert_eq!(message_types, ["values = [\"DIGEST\"]"; 2]);
    let algorithms: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[0] == "variable = \"kms:SigningAlgorithm\"")
        .map(|pair| pair[1].as_str())
        .collect();
    assert_eq!(algorithms, ["values = [\"ECDSA_SHA_256\"]"; 2]);
}

#[test]
fn ci_role_trusts_one_repository_and_ref_through_oidc_or_the_given_principal() {
    let template = Template::load(CI_TEMPLATE);
    let github = ci_scope(
        &template,
        &[
            ("GitHubRepository", "acme/shop"),
            ("GitHubSubject", "environment:production"),
        ],
        &ci_reference,
        &ci_attribute,
    );
    let trust = github.eval(&template.resource("CiRole")["Properties"]["AssumeRolePolicyDocument"]);
    let only = statements(&trust);
    assert_eq!(only.len(), 1, "{trust:#}");
    assert_eq!(only[0]["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        only[0]["Principal"]["Federated"],
        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    );
    assert_eq!(
        only[0]["Condition"]["StringEquals"],
        json!({
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/shop:environment:production"
        }),
        "an exact subject: no StringLike, no wildcard"
    );

    let jenkins = ci_scope(
        &template,
        &[(
            "TrustedPrincipalArn",
            "arn:aws:iam::111111111111:role/jenkins",
        )],
        &ci_reference,
        &ci_attribute,
    );
    assert!(!jenkins.condition("MakeOidcProvider"));
    let trust =
        jenkins.eval(&template.resource("CiRole")["Properties"]["AssumeRolePolicyDocument"]);
    assert_eq!(
        statements(&trust),
        [json!({
            "Sid": "TheCiSystemsOwnPrincipal",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:role/jenkins"},
            "Action": "sts:AssumeRole"
        })]
    );
}

#[test]
fn the_topic_key_lets_ci_role_use_it_only_through_sns_for_the_lane_topic() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let key = scope.eval(&template.resource("LaneKey")["Properties"]["KeyPolicy"]);
    let for_ci: Vec<Value> = statements(&key)
        .into_iter()
        .filter(|s| strings(&s["Principal"]["AWS"]).contains(&CI_ROLE.to_string()))
        .collect();
    assert_eq!(for_ci.len(), 1, "{key:#}");
    assert_eq!(
        strings(&for_ci[0]["Action"]),
        ["kms:GenerateDataKey", "kms:Decrypt"]
    );
    assert_eq!(
        for_ci[0]["Condition"]["StringEquals"],
        json!({
            "kms:ViaService": "sns.eu-west-1.amazonaws.com",
            "kms:EncryptionContext:aws:sns:topicArn": TOPIC
        })
    );
    let topic = scope.eval(&template.resource("Topic")["Properties"]);
    assert_eq!(
        topic["KmsMasterKeyId"],
        "arn:aws:kms:eu-west-1:222222222222:key/lane"
    );
}

#[test]
fn the_dispatcher_role_is_dispatcher_json_made_concrete() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let role = scope.eval(&template.resource("DispatcherRole")["Properties"]);
    let statements = statements(&role["Policies"][0]["PolicyDocument"]);
    let by_sid: BTreeMap<String, &Value> = statements
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap_or_default().to_string(), s))
        .collect();
    for s in &statements {
        for resource in strings(&s["Resource"]) {
            assert_ne!(resource, "*", "{s}");
        }
        for action in strings(&s["Action"]) {
            assert!(!action.contains('*'), "{action}");
        }
    }
    let run = by_sid["RunPinnedTaskDefinitionInLaneCluster"];
    assert_eq!(
        run["Resource"], "arn:aws:ecs:eu-west-1:222222222222:task-definition/airlock-deploy:1",
        "RunTask of the stack's own revision only"
    );
    assert_eq!(
        run["Condition"]["ArnEquals"]["ecs:cluster"],
        "arn:aws:ecs:eu-west-1:222222222222:cluster/airlock-lane"
    );
    let pass = by_sid["PassDeployRolesToEcsTasksOnly"];
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
    assert_eq!(
        by_sid["ReadDispatcherConfig"]["Resource"],
        "arn:aws:ssm:eu-west-1:222222222222:parameter/airlock/airlock-production/dispatch"
    );
    // The dispatcher's policy in deploy/policies: every statement it has is here, except the
    // ones this stack has no use for.
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(stacks::workspace_root().join("deploy/policies/dispatcher.json"))
            .expect("dispatcher.json"),
    )
    .expect("JSON");
    for s in reference["Statement"].as_array().expect("statements") {
        let sid = s["Sid"].as_str().expect("Sid");
        if [
            "EcrGateReadsDigestAndScanFindings",
            "DecryptDispatcherConfigThroughSsmOnly",
        ]
        .contains(&sid)
        {
            assert!(!by_sid.contains_key(sid), "{sid}");
            continue;
        }
        let ours = by_sid
            .get(sid)
            .unwrap_or_else(|| panic!("{sid} is missing"));
        assert_eq!(strings(&ours["Action"]), strings(&s["Action"]), "{sid}");
        assert_eq!(
            ours.get("Condition")
                .map(|c| c.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())),
            s.get("Condition")
                .map(|c| c.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())),
            "{sid}"
        );
    }
}

#[test]
fn the_stopped_rule_matches_what_the_dispatcher_sets_and_reads() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let rule = scope.eval(&template.resource("TaskStoppedRule")["Properties"]);
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.ecs"]));
    assert_eq!(pattern["detail-type"], json!(["ECS Task State Change"]));
    assert_eq!(pattern["detail"]["lastStatus"], json!(["STOPPED"]));
    assert_eq!(
        pattern["detail"]["startedBy"],
        json!([airlock_dispatch::dispatcher::STARTED_BY])
    );
    assert_eq!(
        pattern["detail"]["clusterArn"],
        json!(["arn:aws:ecs:eu-west-1:222222222222:cluster/airlock-lane"])
    );
}

#[test]
fn the_runner_task_is_fargate_read_only_non_root_and_logs_to_a_kept_encrypted_group() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let task = scope.eval(&template.resource("RunnerTaskDefinition")["Properties"]);
    assert_eq!(task["NetworkMode"], "awsvpc");
    assert_eq!(task["RequiresCompatibilities"], json!(["FARGATE"]));
    let containers = task["ContainerDefinitions"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let deploy = &containers[0];
    assert_eq!(deploy["Name"], "deploy", "the dispatcher's `container`");
    assert_eq!(deploy["ReadonlyRootFilesystem"], true);
    let user = deploy["User"].as_str().expect("User");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(uid.parse::<u32>().is_ok_and(|u| u > 0), "{user}");
    assert_eq!(deploy["LogConfiguration"]["LogDriver"], "awslogs");
    assert_eq!(
        deploy["LogConfiguration"]["Options"]["awslogs-group"],
        "/airlock/airlock-lane/deploy"
    );
    for group in template.of_type("AWS::Logs::LogGroup") {
        let props = scope.eval(&template.resource(&group)["Properties"]);
        assert!(props["RetentionInDays"].is_string() || props["RetentionInDays"].is_number());
        assert_eq!(
            props["KmsKeyId"],
            "arn:aws:kms:eu-west-1:222222222222:key/lane"
        );
    }
    let task_role = scope.eval(&template.resource("TaskRole")["Properties"]);
    assert_eq!(
        task_role["ManagedPolicyArns"],
        json!(["arn:aws:iam::222222222222:policy/deploy"])
    );
    assert!(task_role.get("PermissionsBoundary").is_none());

    let group = scope.eval(&template.resource("RunnerSecurityGroup")["Properties"]);
    assert!(group.get("SecurityGroupIngress").is_none());
    assert_eq!(
        group["SecurityGroupEgress"],
        json!([{
            "Description": "HTTPS to AWS APIs (through NAT or VPC endpoints)",
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"
        }])
    );
}

#[test]
fn the_stack_builds_a_dispatcher_configuration_the_dispatcher_accepts() {
    let template = Template::load(PRODUCTION_TEMPLATE);
    let scope = production_scope(&template);
    let parameter = scope.eval(&template.resource("DispatchConfig")["Properties"]);
    assert_eq!(parameter["Type"], "String");
    let text = parameter["Value"].as_str().expect("Value");
    let config =
        airlock_dispatch::DispatchConfig::parse(text, "DispatchConfig").unwrap_or_else(|e| {
            panic!("{e}\n{text}");
        });
    assert_eq!(config.table, "airlock-lane-table");
    assert!(
        config
            .allowlist
            .keys
            .contains_key("arn:aws:kms:eu-west-1:111111111111:key/signing")
    );
    let job = config.job("deploy").expect("the JobName default");
    assert_eq!(
        job.subnets,
        ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    );
    assert_eq!(job.security_groups, ["sg-0123456789abcdef0"]);
    assert!(!job.assign_public_ip);
    assert_eq!(job.timeout_secs, 1800);
    assert!(job.params.contains_key("VERSION"));
    assert_eq!(
        job.task_definition,
        "arn:aws:ecs:eu-west-1:222222222222:task-definition/airlock-deploy:1"
    );
}

#[test]
fn the_outputs_other_tools_read_are_there() {
    let production = Template::load(PRODUCTION_TEMPLATE);
    for name in [
        "TopicArn",
        "FeedbackQueueUrl",
        "FeedbackQueueArn",
        "Region",
        "DispatcherFunctionName",
        "TaskLogGroup",
    ] {
        assert!(production.doc["Outputs"].get(name).is_some(), "{name}");
    }
    let ci = Template::load(CI_TEMPLATE);
    for name in ["SigningKeyArn", "CiRoleArn"] {
        assert!(ci.doc["Outputs"].get(name).is_some(), "{name}");
    }
}
