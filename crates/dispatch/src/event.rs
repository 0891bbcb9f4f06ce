//! The Lambda events the dispatcher handles, read from their JSON: SNS notifications that
//! carry request envelopes, and EventBridge "ECS Task State Change" events.

use serde_json::Value;

use crate::dispatcher::{STARTED_BY, StoppedTask};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An SNS message body: a signed request envelope (or anything someone published).
    Envelope { message_id: String, body: String },
    /// A task of ours that stopped.
    Stopped(StoppedTask),
    /// Something else (another status, another service's task, an unknown event).
    Other { reason: String },
}

/// The items of one invocation's event.
pub fn items(event: &Value) -> Vec<Item> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        return records.iter().map(sns_record).collect();
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("ECS Task State Change") {
        return vec![task_change(event.get("detail").unwrap_or(&Value::Null))];
    }
    vec![Item::Other {
        reason: "neither SNS records nor an ECS task state change".into(),
    }]
}

fn sns_record(record: &Value) -> Item {
    let source = record
        .get("EventSource")
        .or_else(|| record.get("eventSource"))
        .and_then(Value::as_str);
    if source != Some("aws:sns") {
        return Item::Other {
            reason: format!("a record from {}", source.unwrap_or("an unknown source")),
        };
    }
    let sns = record.get("Sns").unwrap_or(&Value::Null);
    match sns.get("Message").and_then(Value::as_str) {
        Some(body) => Item::Envelope {
            message_id: sns
                .get("MessageId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            body: body.to_string(),
        },
        None => Item::Other {
            reason: "an SNS record without a Message".into(),
        },
    }
}

fn task_change(detail: &Value) -> Item {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or("");
    if text("lastStatus") != "STOPPED" {
        return Item::Other {
            reason: format!("task status {}", text("lastStatus")),
        };
    }
    if text("startedBy") != STARTED_BY {
        return Item::Other {
            reason: "a task not started by airlock-dispatch".into(),
        };
    }
    if text("taskArn").is_empty() {
        return Item::Other {
            reason: "a task state change without taskArn".into(),
        };
    }
    let containers = detail
        .get("containers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| {
                    let name = c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let code = c
                        .get("exitCode")
                        .and_then(Value::as_i64)
                        .and_then(|n| i32::try_from(n).ok());
                    (name, code)
                })
                .collect()
        })
        .unwrap_or_default();
    Item::Stopped(StoppedTask {
        task_arn: text("taskArn").to_string(),
        stop_code: text("stopCode").to_string(),
        stopped_reason: text("stoppedReason").chars().take(1024).collect(),
        containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sns_records_become_envelopes() {
        let event = json!({"Records": [
            {"EventSource": "aws:sns", "Sns": {"MessageId": "m-1", "Message": "{\"v\":1}"}},
            {"EventSource": "aws:sqs", "body": "x"}
        ]});
        let items = items(&event);
        assert_eq!(
            items[0],
            Item::Envelope {
                message_id: "m-1".into(),
                body: "{\"v\":1}".into()
            }
        );
        assert!(matches!(items[1], Item::Other { .. }));
    }

    #[test]
    fn only_stopped_tasks_of_ours_are_handled() {
        let event = |status: &str, by: &str| {
            json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {
                "lastStatus": status, "startedBy": by, "taskArn": "arn:aws:ecs:eu-west-1:222222222222:task/c/abc",
                "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "deploy", "exitCode": 3}, {"name": "sidecar"}]
            }})
        };
        match items(&event("STOPPED", STARTED_BY)).as_slice() {
            [Item::Stopped(task)] => {
                assert_eq!(task.stop_code, "EssentialContainerExited");
                assert_eq!(
                    task.containers,
                    vec![("deploy".into(), Some(3)), ("sidecar".into(), None)]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            items(&event("RUNNING", STARTED_BY))[0],
            Item::Other { .. }
        ));
        assert!(matches!(
            items(&event("STOPPED", "someone-else"))[0],
            Item::Other { .. }
        ));
        assert!(matches!(items(&json!({"hello": 1}))[0], Item::Other { .. }));
    }
}
