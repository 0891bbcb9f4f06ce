//! From the lane's stacks to the CI side's configuration (`airlock lane config`): the outputs
//! of the production and CI stacks (CloudFormation) or of the example Terraform root become
//! the `[lane]` table, environment variables or `$GITHUB_ENV` lines, so nobody copies an ARN
//! by hand.
//!
//! Every value is checked before it is written: the right kind of ARN or URL, the topic in the
//! stacks' region, and only characters that need no quoting in a `.env` file or a shell, so
//! that a malformed or tampered output is an error naming its source and output rather than a
//! line CI would misread.

use std::collections::BTreeMap;

/// Where a set of outputs came from, for messages: `CloudFormation stack "airlock-prod"`,
/// `outputs.json`, `terraform output (stdin)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub source: String,
    pub naming: Naming,
    pub values: BTreeMap<String, String>,
}

/// How outputs are named: CloudFormation's `TopicArn` or Terraform's `topic_arn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    CloudFormation,
    Terraform,
}

/// One setting of the CI side and the outputs it comes from.
struct Wanted {
    cloudformation: &'static str,
    terraform: &'static str,
    /// Which half of the lane exports it, for the message when it is missing.
    exported_by: &'static str,
    required: bool,
    kind: ValueKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Arn(&'static str),
    Url,
    Region,
    Name,
}

const PRODUCTION: &str = "the production stack (airlock-production)";
const CI: &str = "the CI stack (airlock-ci)";

const TOPIC: Wanted = Wanted {
    cloudformation: "TopicArn",
    terraform: "topic_arn",
    exported_by: PRODUCTION,
    required: true,
    kind: ValueKind::Arn("sns"),
};
const QUEUE_URL: Wanted = Wanted {
    cloudformation: "FeedbackQueueUrl",
    terraform: "feedback_queue_url",
    exported_by: PRODUCTION,
    required: true,
    kind: ValueKind::Url,
};
const KEY: Wanted = Wanted {
    cloudformation: "SigningKeyArn",
    terraform: "signing_key_arn",
    exported_by: CI,
    required: true,
    kind: ValueKind::Arn("kms"),
};
const REGION: Wanted = Wanted {
    cloudformation: "Region",
    terraform: "region",
    exported_by: PRODUCTION,
    required: true,
    kind: ValueKind::Region,
};
const CI_ROLE: Wanted = Wanted {
    cloudformation: "CiRoleArn",
    terraform: "ci_role_arn",
    exported_by: CI,
    required: false,
    kind: ValueKind::Arn("iam"),
};
const QUEUE_ARN: Wanted = Wanted {
    cloudformation: "FeedbackQueueArn",
    terraform: "feedback_queue_arn",
    exported_by: PRODUCTION,
    required: false,
    kind: ValueKind::Arn("sqs"),
};
const DISPATCHER: Wanted = Wanted {
    cloudformation: "DispatcherFunctionName",
    terraform: "dispatcher_function_name",
    exported_by: PRODUCTION,
    required: false,
    kind: ValueKind::Name,
};
const TASK_LOG_GROUP: Wanted = Wanted {
    cloudformation: "TaskLogGroup",
    terraform: "task_log_group",
    exported_by: PRODUCTION,
    required: false,
    kind: ValueKind::Name,
};

/// What the CI side needs, and what helps it (CI's role to assume, where the logs are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiSettings {
    pub topic_arn: String,
    pub feedback_queue_url: String,
    pub signing_key_id: String,
    pub region: String,
    pub ci_role_arn: Option<String>,
    pub feedback_queue_arn: Option<String>,
    pub dispatcher_function_name: Option<String>,
    pub task_log_group: Option<String>,
    /// The sources the settings were read from, for the file's header.
    pub sources: Vec<String>,
}

/// Why the outputs cannot become a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A file could not be read as outputs at all.
    #[error("{source_name}: {message}")]
    Unreadable {
        source_name: String,
        message: String,
    },
    #[error(
        "no output {output} in {searched}; {exported_by} exports it (is it the right stack, and has it finished deploying?)"
    )]
    Missing {
        output: String,
        searched: String,
        exported_by: &'static str,
    },
    #[error("{source_name}: output {output}: {problem}")]
    Malformed {
        source_name: String,
        output: String,
        problem: String,
    },
    #[error("output {output} differs between {first} and {second}")]
    Conflict {
        output: String,
        first: String,
        second: String,
    },
}

impl Outputs {
    /// CloudFormation outputs in any of the forms the AWS CLI prints them: the whole
    /// `describe-stacks` answer (`{"Stacks": [{"Outputs": [...]}]}`, exactly one stack), its
    /// `Outputs` list (`[{"OutputKey": ..., "OutputValue": ...}]`), or a plain
    /// `{"Key": "value"}` map.
    pub fn from_cloudformation_json(text: &str, source: &str) -> Result<Outputs, SetupError> {
        let unreadable = |message: String| SetupError::Unreadable {
            source_name: source.to_string(),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            unreadable(format!(
                "not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let list = match &value {
            serde_json::Value::Object(map) if map.contains_key("Stacks") => {
                let stacks = map
                    .get("Stacks")
                    .and_then(serde_json::Value::as_array)
                    .ok_or_else(|| unreadable("\"Stacks\" is not a list".into()))?;
                let [stack] = stacks.as_slice() else {
                    return Err(unreadable(format!(
                        "\"Stacks\" holds {} stacks; give the outputs of one (describe-stacks --stack-name NAME)",
                        stacks.len()
                    )));
                };
                stack
                    .get("Outputs")
                    .cloned()
                    .unwrap_or(serde_json::Value::Array(Vec::new()))
            }
            other => other.clone(),
        };
        let mut values = BTreeMap::new();
        match list {
            serde_json::Value::Array(entries) => {
                for (index, entry) in entries.iter().enumerate() {
                    let key = entry.get("OutputKey").and_then(serde_json::Value::as_str);
                    let val = entry.get("OutputValue").and_then(serde_json::Value::as_str);
                    let (Some(key), Some(val)) = (key, val) else {
                        return Err(unreadable(format!(
                            "output {index}: expected {{\"OutputKey\": \"…\", \"OutputValue\": \"…\"}} with string values"
                        )));
                    };
                    values.insert(key.to_string(), val.to_string());
                }
            }
            serde_json::Value::Object(map) => {
                for (key, val) in map {
                    let Some(val) = val.as_str() else {
                        return Err(SetupError::Malformed {
                            source_name: source.to_string(),
                            output: key,
                            problem: "the value is not a string".into(),
                        });
                    };
                    values.insert(key, val.to_string());
                }
            }
            _ => {
                return Err(unreadable(
                    "expected describe-stacks output, an Outputs list or a map of outputs".into(),
                ));
            }
        }
        Ok(Outputs {
            source: source.to_string(),
            naming: Naming::CloudFormation,
            values,
        })
    }

    /// `terraform output -json`: `{"name": {"value": …, "type": …, "sensitive": …}}`. Only
    /// string values are taken; the lane's outputs are all strings.
    pub fn from_terraform_json(text: &str, source: &str) -> Result<Outputs, SetupError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| SetupError::Unreadable {
                source_name: source.to_string(),
                message: format!(
                    "not the JSON of `terraform output -json`: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })?;
        let serde_json::Value::Object(map) = value else {
            return Err(SetupError::Unreadable {
                source_name: source.to_string(),
                message: "expected an object of outputs (`terraform output -json`)".into(),
            });
        };
        let mut values = BTreeMap::new();
        for (name, output) in map {
            let Some(inner) = output.get("value") else {
                return Err(SetupError::Malformed {
                    source_name: source.to_string(),
                    output: name,
                    problem: "no \"value\" (expected the form `terraform output -json` prints)"
                        .into(),
                });
            };
            // Outputs the CI side does not read may be of any type.
            if let Some(text) = inner.as_str() {
                values.insert(name, text.to_string());
            } else if is_wanted_terraform(&name) {
                return Err(SetupError::Malformed {
                    source_name: source.to_string(),
                    output: name,
                    problem: format!("the value is {}, not a string", json_kind(inner)),
                });
            }
        }
        Ok(Outputs {
            source: source.to_string(),
            naming: Naming::Terraform,
            values,
        })
    }
}

const ALL: [&Wanted; 8] = [
    &TOPIC,
    &QUEUE_URL,
    &KEY,
    &REGION,
    &CI_ROLE,
    &QUEUE_ARN,
    &DISPATCHER,
    &TASK_LOG_GROUP,
];

fn is_wanted_terraform(name: &str) -> bool {
    ALL.iter().any(|w| w.terraform == name)
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

impl CiSettings {
    /// The CI side's settings from one or more sets of outputs (the production and the CI
    /// stack, or one Terraform root). An output given by two sources must agree.
    pub fn from_outputs(sources: &[Outputs]) -> Result<CiSettings, SetupError> {
        let take = |wanted: &Wanted| -> Result<Option<String>, SetupError> {
            let mut found: Option<(&str, &str)> = None;
            for outputs in sources {
                let name = match outputs.naming {
                    Naming::CloudFormation => wanted.cloudformation,
                    Naming::Terraform => wanted.terraform,
                };
                let Some(value) = outputs.values.get(name) else {
                    continue;
                };
                check_value(wanted.kind, value).map_err(|problem| SetupError::Malformed {
                    source_name: outputs.source.clone(),
                    output: name.to_string(),
                    problem,
                })?;
                match found {
                    Some((first_source, first)) if first != value => {
                        return Err(SetupError::Conflict {
                            output: name.to_string(),
                            first: format!("{first_source} ({first})"),
                            second: format!("{} ({value})", outputs.source),
                        });
                    }
                    Some(_) => {}
                    None => found = Some((outputs.source.as_str(), value.as_str())),
                }
            }
            match found {
                Some((_, value)) => Ok(Some(value.to_string())),
                None if wanted.required => Err(SetupError::Missing {
                    output: wanted_names(wanted, sources),
                    searched: searched(sources),
                    exported_by: wanted.exported_by,
                }),
                None => Ok(None),
            }
        };
        let required = |wanted: &Wanted| -> Result<String, SetupError> {
            take(wanted)?.ok_or_else(|| SetupError::Missing {
                output: wanted_names(wanted, sources),
                searched: searched(sources),
                exported_by: wanted.exported_by,
            })
        };
        let settings = CiSettings {
            topic_arn: required(&TOPIC)?,
            feedback_queue_url: required(&QUEUE_URL)?,
            signing_key_id: required(&KEY)?,
            region: required(&REGION)?,
            ci_role_arn: take(&CI_ROLE)?,
            feedback_queue_arn: take(&QUEUE_ARN)?,
            dispatcher_function_name: take(&DISPATCHER)?,
            task_log_group: take(&TASK_LOG_GROUP)?,
            sources: sources.iter().map(|o| o.source.clone()).collect(),
        };
        let topic_region = settings.topic_arn.split(':').nth(3).unwrap_or_default();
        if topic_region != settings.region {
            let source = sources
                .iter()
                .find(|o| o.values.values().any(|v| *v == settings.topic_arn))
                .map_or_else(|| searched(sources), |o| o.source.clone());
            return Err(SetupError::Malformed {
                source_name: source,
                output: wanted_names(&TOPIC, sources),
                problem: format!(
                    "the topic is in region {topic_region:?} but the lane's region is {:?}",
                    settings.region
                ),
            });
        }
        Ok(settings)
    }

    /// The configuration in `format`.
    pub fn render(&self, format: ConfigFormat) -> String {
        match format {
            ConfigFormat::Toml => self.toml(),
            ConfigFormat::Env => self.env_lines(false),
            ConfigFormat::Github => self.env_lines(true),
        }
    }

    fn toml(&self) -> String {
        let mut lane = toml::map::Map::new();
        for (key, value) in [
            ("topic_arn", &self.topic_arn),
            ("feedback_queue_url", &self.feedback_queue_url),
            ("signing_key_id", &self.signing_key_id),
            ("region", &self.region),
        ] {
            lane.insert(key.to_string(), toml::Value::String(value.clone()));
        }
        let mut root = toml::map::Map::new();
        root.insert("lane".to_string(), toml::Value::Table(lane));
        let mut text = format!(
            "# The CI side of the deploy lane, written by `airlock lane config` from {}.\n",
            self.sources.join(" and ")
        );
        for comment in self.comments() {
            text.push_str(&format!("# {comment}\n"));
        }
        text.push_str(&toml::to_string(&toml::Value::Table(root)).unwrap_or_default());
        text
    }

    fn comments(&self) -> Vec<String> {
        let mut comments = Vec::new();
        if let Some(role) = &self.ci_role_arn {
            comments.push(format!("CI assumes this role to deploy: {role}"));
        }
        if let Some(group) = &self.task_log_group {
            comments.push(format!(
                "Each deployment's full log: CloudWatch log group {group} in the production account"
            ));
        }
        if let Some(function) = &self.dispatcher_function_name {
            comments.push(format!(
                "The dispatcher's log (why a request got no answer): /aws/lambda/{function}"
            ));
        }
        comments
    }

    /// `NAME=value` lines: a `.env` file, `$GITHUB_ENV`, `gh variable set -f FILE`. The values
    /// were checked to need no quoting.
    fn env_lines(&self, github: bool) -> String {
        let mut lines = vec![
            format!("{}={}", crate::config::ENV_TOPIC_ARN, self.topic_arn),
            format!(
                "{}={}",
                crate::config::ENV_FEEDBACK_QUEUE_URL,
                self.feedback_queue_url
            ),
            format!(
                "{}={}",
                crate::config::ENV_SIGNING_KEY_ID,
                self.signing_key_id
            ),
            format!("AWS_REGION={}", self.region),
        ];
        if github && let Some(role) = &self.ci_role_arn {
            lines.push(format!("{ENV_CI_ROLE_ARN}={role}"));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// The CI role's ARN in the `github` format, for the workflow's OIDC step
/// (`role-to-assume: ${{ vars.AIRLOCK_CI_ROLE_ARN }}`).
pub const ENV_CI_ROLE_ARN: &str = "AIRLOCK_CI_ROLE_ARN";

/// `airlock lane config --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// The `[lane]` table of airlock.toml.
    Toml,
    /// `AIRLOCK_LANE_*=…` lines.
    Env,
    /// The same lines plus CI's role, for `$GITHUB_ENV` or `gh variable set -f`.
    Github,
}

fn wanted_names(wanted: &Wanted, sources: &[Outputs]) -> String {
    let mut names: Vec<&str> = sources
        .iter()
        .map(|o| match o.naming {
            Naming::CloudFormation => wanted.cloudformation,
            Naming::Terraform => wanted.terraform,
        })
        .collect();
    names.dedup();
    if names.is_empty() {
        names.push(wanted.cloudformation);
    }
    names.join(" / ")
}

fn searched(sources: &[Outputs]) -> String {
    if sources.is_empty() {
        return "no source (give --stack, --production-stack/--ci-stack, --outputs or --terraform-output)".into();
    }
    sources
        .iter()
        .map(|o| {
            let mut have: Vec<&str> = o.values.keys().map(String::as_str).collect();
            have.truncate(12);
            format!(
                "{} (which has: {})",
                o.source,
                if have.is_empty() {
                    "no outputs".to_string()
                } else {
                    have.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Characters a value may hold so that `NAME=value` needs no quoting anywhere it is read.
fn plain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 2048
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/._-+=@,".contains(&b))
}

fn check_value(kind: ValueKind, value: &str) -> Result<(), String> {
    if !plain(value) {
        return Err(format!(
            "{:?} is not a plain value (letters, digits and : / . _ - + = @ , only)",
            value.escape_debug().take(80).collect::<String>()
        ));
    }
    match kind {
        ValueKind::Arn(service) => {
            let parts: Vec<&str> = value.splitn(6, ':').collect();
            let well_formed = parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == service
                && (service == "iam" || !parts[3].is_empty())
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && !parts[5].is_empty();
            if !well_formed {
                return Err(format!(
                    "{value:?} is not an ARN of {service} (arn:aws:{service}:REGION:ACCOUNT:…)"
                ));
            }
            if service == "kms" && !parts[5].starts_with("key/") {
                return Err(format!(
                    "{value:?} is not a key ARN (…:key/ID); the dispatcher knows the key by its ARN"
                ));
            }
            Ok(())
        }
        ValueKind::Url => {
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(())
            } else {
                Err(format!("{value:?} is not a queue URL (https://sqs.…)"))
            }
        }
        ValueKind::Region => {
            let parts: Vec<&str> = value.split('-').collect();
            let ok = parts.len() >= 3
                && parts[..parts.len() - 1]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
                && parts
                    .last()
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if ok {
                Ok(())
            } else {
                Err(format!("{value:?} is not a region (like eu-west-1)"))
            }
        }
        ValueKind::Name => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC_ARN: &str = "arn:aws:sns:eu-west-1:222222222222:airlock-lane";
    const QUEUE: &str = "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback";
    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:111111111111:key/0f0f0f0f-0000-4000-8000-000000000000";
    const ROLE: &str = "arn:aws:iam::111111111111:role/airlock-ci";

    fn terraform(values: &[(&str, serde_json::Value)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    serde_json::json!({"sensitive": false, "type": "string", "value": v}),
                )
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    fn full_terraform() -> String {
        terraform(&[
            ("topic_arn", TOPIC_ARN.into()),
            ("feedback_queue_url", QUEUE.into()),
            ("signing_key_arn", KEY_ARN.into()),
            ("ci_role_arn", ROLE.into()),
            ("region", "eu-west-1".into()),
            ("subnet_ids", serde_json::json!(["subnet-1"])),
        ])
    }

    #[test]
    fn terraform_outputs_become_every_format() {
        let outputs = Outputs::from_terraform_json(&full_terraform(), "tf.json").expect("parse");
        let settings = CiSettings::from_outputs(&[outputs]).expect("settings");
        assert_eq!(settings.ci_role_arn.as_deref(), Some(ROLE));
        let toml_text = settings.render(ConfigFormat::Toml);
        let config =
            crate::config::LaneConfig::parse(&toml_text, "airlock.toml", std::path::Path::new("."))
                .expect("airlock deploy reads what lane config writes");
        assert_eq!(config.topic_arn.as_deref(), Some(TOPIC_ARN));
        assert_eq!(config.feedback_queue_url.as_deref(), Some(QUEUE));
        assert_eq!(config.signing_key_id.as_deref(), Some(KEY_ARN));
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert!(toml_text.contains(&format!("# CI assumes this role to deploy: {ROLE}")));

        let env = settings.render(ConfigFormat::Env);
        assert_eq!(
            env,
            format!(
                "AIRLOCK_LANE_TOPIC_ARN={TOPIC_ARN}\nAIRLOCK_LANE_FEEDBACK_QUEUE_URL={QUEUE}\n\
                 AIRLOCK_LANE_SIGNING_KEY_ID={KEY_ARN}\nAWS_REGION=eu-west-1\n"
            )
        );
        let github = settings.render(ConfigFormat::Github);
        assert_eq!(github, format!("{env}AIRLOCK_CI_ROLE_ARN={ROLE}\n"));
    }

    #[test]
    fn a_malformed_terraform_file_is_named_with_its_line() {
        let error = Outputs::from_terraform_json("{\n  \"topic_arn\": {\"value\": \n", "tf.json")
            .expect_err("truncated");
        let text = error.to_string();
        assert!(text.starts_with("tf.json: not the JSON"), "{text}");
        assert!(text.contains("line 3"), "{text}");

        let error = Outputs::from_terraform_json(r#"{"topic_arn": "arn:aws:sns:x"}"#, "tf.json")
            .expect_err("not the -json form");
        assert!(
            error.to_string().contains("output topic_arn: no \"value\""),
            "{error}"
        );

        let error = Outputs::from_terraform_json(
            &terraform(&[("region", serde_json::json!(["eu-west-1"]))]),
            "tf.json",
        )
        .expect_err("a list");
        assert_eq!(
            error.to_string(),
            "tf.json: output region: the value is a list, not a string"
        );
    }

    #[test]
    fn missing_and_wrong_outputs_name_the_source_and_the_output() {
        let mut values = serde_json::from_str::<serde_json::Value>(&full_terraform())
            .expect("json")
            .as_object()
            .cloned()
            .expect("object");
        values.remove("signing_key_arn");
        let outputs =
            Outputs::from_terraform_json(&serde_json::Value::Object(values).to_string(), "tf.json")
                .expect("parse");
        let error = CiSettings::from_outputs(&[outputs]).expect_err("no key");
        let text = error.to_string();
        assert!(
            text.starts_with("no output signing_key_arn in tf.json"),
            "{text}"
        );
        assert!(text.contains("the CI stack"), "{text}");

        for (output, bad, problem) in [
            (
                "topic_arn",
                "arn:aws:sqs:eu-west-1:222222222222:q",
                "not an ARN of sns",
            ),
            ("signing_key_arn", "alias/airlock", "not an ARN of kms"),
            ("feedback_queue_url", "sqs/queue", "not a queue URL"),
            ("region", "Europe", "not a region"),
            (
                "topic_arn",
                "arn:aws:sns:us-east-1:222222222222:t",
                "region \"us-east-1\"",
            ),
            ("feedback_queue_url", "https://x/$(id)", "not a plain value"),
            (
                "region",
                "eu-west-1\nAWS_SECRET_ACCESS_KEY=x",
                "not a plain value",
            ),
        ] {
            let mut text = full_terraform();
            let original = match output {
                "topic_arn" => TOPIC_ARN,
                "signing_key_arn" => KEY_ARN,
                "feedback_queue_url" => QUEUE,
                _ => "eu-west-1",
            };
            let quoted = serde_json::Value::String(bad.into()).to_string();
            text = text.replace(&format!("\"{original}\""), &quoted);
            let outputs = Outputs::from_terraform_json(&text, "tf.json").expect("parse");
            let error = CiSettings::from_outputs(&[outputs]).expect_err(bad);
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("tf.json: output {output}:"))
                    && message.contains(problem),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn cloudformation_outputs_come_in_the_cli_forms_and_from_two_stacks() {
        let production = format!(
            r#"{{"Stacks": [{{"StackName": "airlock-prod", "Outputs": [
                {{"OutputKey": "TopicArn", "OutputValue": "{TOPIC_ARN}"}},
                {{"OutputKey": "FeedbackQueueUrl", "OutputValue": "{QUEUE}"}},
                {{"OutputKey": "Region", "OutputValue": "eu-west-1"}},
                {{"OutputKey": "TaskLogGroup", "OutputValue": "/airlock/runner"}}]}}]}}"#
        );
        let ci = format!(
            r#"[{{"OutputKey": "SigningKeyArn", "OutputValue": "{KEY_ARN}"}},
               {{"OutputKey": "CiRoleArn", "OutputValue": "{ROLE}"}}]"#
        );
        let sources = [
            Outputs::from_cloudformation_json(&production, "prod.json").expect("production"),
            Outputs::from_cloudformation_json(&ci, "ci.json").expect("ci"),
        ];
        let settings = CiSettings::from_outputs(&sources).expect("settings");
        assert_eq!(settings.signing_key_id, KEY_ARN);
        assert_eq!(settings.task_log_group.as_deref(), Some("/airlock/runner"));
        assert!(settings.render(ConfigFormat::Toml).contains(
            "# Each deployment's full log: CloudWatch log group /airlock/runner in the production account"
        ));

        let error = CiSettings::from_outputs(&sources[..1]).expect_err("no CI stack");
        assert!(
            error
                .to_string()
                .starts_with("no output SigningKeyArn in prod.json"),
            "{error}"
        );

        let other = Outputs::from_cloudformation_json(
            &format!(r#"{{"TopicArn": "{TOPIC_ARN}2", "SigningKeyArn": "{KEY_ARN}"}}"#),
            "other.json",
        )
        .expect("map form");
        let error = CiSettings::from_outputs(&[sources[0].clone(), other]).expect_err("conflict");
        assert!(
            error
                .to_string()
                .starts_with("output TopicArn differs between prod.json"),
            "{error}"
        );

        let error = Outputs::from_cloudformation_json(r#"[{"OutputKey": "TopicArn"}]"#, "x.json")
            .expect_err("no value");
        assert!(
            error.to_string().starts_with("x.json: output 0:"),
            "{error}"
        );
    }
}
