//! An accepted request's whole life against moto: the task ECS starts and what it carries,
//! the lane lock while it runs, a signed cancel stopping it, and the STOPPED event telling the
//! follower and freeing the lane.
#![cfg(feature = "aws")]

mod common;

use std::time::Duration;

use airlock_dispatch::Decision;
use airlock_dispatch::dispatcher::{STARTED_BY, StopNotice, StoppedTask};
use airlock_protocol::FeedbackBody;
use airlock_testsupport::{Fault, FaultPlan, FaultProxy, sdk_config_for};
use aws_config::retry::RetryConfig;
use common::{REPO, Stage, bodies_for, cancel_for, sign_cancel, valid_request};

#[test]
fn an_accepted_request_starts_one_pinned_task_carrying_only_the_request() {
    let stage = Stage::start();
    let dispatcher = stage.dispatcher();
    let mut request = valid_request();
    request.params.insert("ENV".into(), "staging".into());
    request.image = Some(
        airlock_protocol::ImageRef::parse(&format!("{REPO}@sha256:{}", "ab".repeat(32)))
            .expect("image"),
    );
    let decision = stage.submit(&dispatcher, &request);
    let Decision::Started { task_arn, .. } = decision else {
        panic!("not started: {decision:?}");
    };
    let task = stage.describe_task(&task_arn);
    assert_eq!(
        task.task_definition_arn(),
        Some(stage.task_definition.as_str())
    );
    assert_eq!(task.started_by(), Some(STARTED_BY));
    let overrides = task.overrides().expect("overrides");
    let container = overrides
        .container_overrides()
        .first()
        .expect("one container override");
    assert_eq!(container.name(), Some("deploy"));
    assert!(
        container.command().is_empty(),
        "the command is the task definition's, never the request's"
    );
    let env: std::collections::BTreeMap<&str, &str> = container
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default(),
                kv.value().unwrap_or_default(),
            )
        })
        .collect();
    let image = format!("{REPO}@sha256:{}", "ab".repeat(32));
    let expected = std::collections::BTreeMap::from([
        ("AIRLOCK_REQUEST_ID", request.request_id.as_str()),
        ("AIRLOCK_JOB", "web"),
        ("AIRLOCK_FEEDBACK", stage.queue_url.as_str()),
        ("AIRLOCK_DEADLINE", "600"),
        ("AIRLOCK_IMAGE", image.as_str()),
        ("VERSION", "v1.2.3"),
        ("ENV", "staging"),
    ]);
    assert_eq!(env, expected);
    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert_eq!(
        told,
        vec![
            FeedbackBody::Accepted { job: "web".into() },
            FeedbackBody::Started { task: task_arn }
        ]
    );
}

#[test]
fn cancel_stops_the_task_and_the_stopped_event_tells_the_follower_and_frees_the_lane() {
    let stage = Stage::start();
    let dispatcher = stage.dispatcher();
    let request = valid_request();
    let started = stage.submit(&dispatcher, &request);
    let Decision::Started { task_arn, .. } = started else {
        panic!("not started: {started:?}");
    };
    stage.drain_feedback();

    // A cancel for another request id is not this lane's business.
    let mut stranger = cancel_for(&request);
    stranger.request_id = "someone-else".into();
    let ignored = stage
        .runtime
        .block_on(dispatcher.handle_envelope(&sign_cancel(&stranger)))
        .expect("dispatch");
    assert!(
        matches!(ignored, Decision::CancelIgnored { .. }),
        "{ignored:?}"
    );

    let cancelled = stage
        .runtime
        .block_on(dispatcher.handle_envelope(&sign_cancel(&cancel_for(&request))))
        .expect("dispatch");
    assert_eq!(
        cancelled,
        Decision::Cancelled {
            request_id: request.request_id.clone(),
            task_arn: task_arn.clone()
        }
    );
    let task = stage.describe_task(&task_arn);
    assert_eq!(task.desired_status(), Some("STOPPED"));
    assert!(
        task.stopped_reason()
            .unwrap_or_default()
            .contains("cancelled by test-actor"),
        "{:?}",
        task.stopped_reason()
    );

    // While the task holds the lane, a second request is refused.
    let second = valid_request();
    let busy = stage.submit(&dispatcher, &second);
    assert!(
        matches!(&busy, Decision::Rejected { code: "lane_busy", reason, .. } if reason.contains(&request.request_id)),
        "{busy:?}"
    );

    // ECS reports the task stopped (EventBridge): the follower hears it, the lane is free.
    let stopped = StoppedTask {
        task_arn: task_arn.clone(),
        stop_code: "UserInitiated".into(),
        stopped_reason: "cancelled by test-actor".into(),
        containers: vec![("deploy".into(), Some(143))],
    };
    let decision = stage
        .runtime
        .block_on(dispatcher.handle_stopped(&stopped))
        .expect("stopped");
    assert!(
        matches!(
            decision,
            Decision::TaskStopped {
                notice: StopNotice::Sent,
                ..
            }
        ),
        "{decision:?}"
    );
    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert_eq!(
        told,
        vec![FeedbackBody::TaskStopped {
            stop_code: "UserInitiated".into(),
            reason: "cancelled by test-actor".into(),
            exit_code: Some(143)
        }]
    );
    let third = valid_request();
    let decision = stage.submit(&dispatcher, &third);
    assert!(matches!(decision, Decision::Started { .. }), "{decision:?}");

    // A stopped event for a task the dispatcher never started changes nothing.
    let foreign = StoppedTask {
        task_arn: "arn:aws:ecs:eu-west-1:123456789012:task/airlock-prod/0000".into(),
        ..stopped
    };
    let decision = stage
        .runtime
        .block_on(dispatcher.handle_stopped(&foreign))
        .expect("stopped");
    assert!(matches!(decision, Decision::Ignored { .. }), "{decision:?}");
}

#[test]
fn a_run_task_failure_frees_the_lane_and_tells_the_follower_why() {
    let mut stage = Stage::start();
    stage.config_text = stage
        .config_text
        .replace(&stage.task_definition, "airlock-deploy-missing:1");
    let dispatcher = stage.dispatcher();
    let request = valid_request();
    let decision = stage.submit(&dispatcher, &request);
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: "run_task_failed",
                notified: true,
                ..
            }
        ),
        "{decision:?}"
    );
    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert!(
        matches!(told.first(), Some(FeedbackBody::Accepted { .. })),
        "{told:?}"
    );
    assert!(
        matches!(told.last(), Some(FeedbackBody::Rejected { code, .. }) if code == "run_task_failed"),
        "{told:?}"
    );
    assert!(stage.tasks().is_empty());
    // The lane was released: the next request gets as far as RunTask again (and not lane_busy).
    let again = stage.submit(&dispatcher, &valid_request());
    assert!(
        matches!(
            &again,
            Decision::Rejected {
                code: "run_task_failed",
                ..
            }
        ),
        "{again:?}"
    );
}

#[test]
fn a_run_task_call_answered_500_frees_the_lane_and_the_next_deploy_starts() {
    let stage = Stage::start();
    // Every attempt the SDK makes at the first RunTask gets a 500; then ECS answers again.
    let proxy = FaultProxy::start(
        &stage.moto.endpoint(),
        FaultPlan::scripted([Fault::ServerError, Fault::ServerError]).only_for(["RunTask"]),
    )
    .expect("fault proxy");
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_max_backoff(Duration::from_millis(50));
    let dispatcher = stage.dispatcher_with(&sdk_config_for(&proxy.endpoint(), retry));
    let request = valid_request();
    let decision = stage.submit(&dispatcher, &request);
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: "run_task_failed",
                notified: true,
                ..
            }
        ),
        "{decision:?}"
    );
    assert_eq!(proxy.count("RunTask"), 2, "{:?}", proxy.requests());
    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[0], FeedbackBody::Accepted { job: "web".into() });
    assert!(
        matches!(&told[1], FeedbackBody::Rejected { code, reason }
            if code == "run_task_failed"
                && reason.starts_with("ecs:RunTask failed: InternalFailure: ")),
        "{told:?}"
    );
    assert!(stage.tasks().is_empty());

    // The lane was released at once, not at the end of its lease.
    let next = valid_request();
    let decision = stage.submit(&dispatcher, &next);
    let Decision::Started { task_arn, .. } = decision else {
        panic!("the next deploy was not started: {decision:?}");
    };
    assert_eq!(stage.tasks(), vec![task_arn]);
}

/// The STOPPED event after the runner reported the end itself frees the lane and leaves
/// nothing in the queue (the follower ended on `Finished`, nobody would read a `TaskStopped`);
/// after a runner that could not report (exit 125) the follower is told.
#[test]
fn a_stopped_event_tells_the_follower_only_when_the_runner_could_not() {
    let stage = Stage::start();
    let dispatcher = stage.dispatcher();
    let stopped = |task_arn: &str, exit_code: i32| StoppedTask {
        task_arn: task_arn.to_string(),
        stop_code: "EssentialContainerExited".into(),
        stopped_reason: "Essential container in task exited".into(),
        containers: vec![("deploy".into(), Some(exit_code))],
    };
    let start = || {
        let request = valid_request();
        let decision = stage.submit(&dispatcher, &request);
        let Decision::Started { task_arn, .. } = decision else {
            panic!("not started: {decision:?}");
        };
        stage.drain_feedback();
        (request, task_arn)
    };

    let (_, reported) = start();
    let decision = stage
        .runtime
        .block_on(dispatcher.handle_stopped(&stopped(&reported, 3)))
        .expect("stopped");
    assert!(
        matches!(
            decision,
            Decision::TaskStopped {
                exit_code: Some(3),
                notice: StopNotice::RunnerReported,
                ..
            }
        ),
        "{decision:?}"
    );
    assert_eq!(
        stage.drain_feedback(),
        vec![],
        "nothing is left in the queue"
    );

    // The lane is free again; this runner could not deliver Finished.
    let (request, unreported) = start();
    let decision = stage
        .runtime
        .block_on(dispatcher.handle_stopped(&stopped(&unreported, 125)))
        .expect("stopped");
    assert!(
        matches!(
            decision,
            Decision::TaskStopped {
                notice: StopNotice::Sent,
                ..
            }
        ),
        "{decision:?}"
    );
    assert_eq!(
        bodies_for(&stage.drain_feedback(), &request.request_id),
        vec![FeedbackBody::TaskStopped {
            stop_code: "EssentialContainerExited".into(),
            reason: "Essential container in task exited".into(),
            exit_code: Some(125)
        }]
    );
    // And the lane was released again.
    start();
}
