//! FaultProxy self-test: every fault kind reaches the AWS SDK as the SDK's real error type,
//! and the SDK's standard retries recover where the AWS documentation says they do
//! (transient connection errors, 5xx, throttling and attempt timeouts).

use std::time::Duration;

use airlock_testsupport::{Fault, FaultPlan, FaultProxy, FaultRates, MotoServer, sdk_config_for};
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

struct Rig {
    moto: MotoServer,
    proxy: FaultProxy,
    queue_url: String,
}

/// moto, a proxy in front of it, and one queue created directly (not through the proxy).
async fn rig() -> Rig {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let proxy = FaultProxy::start(&moto.endpoint(), FaultPlan::pass()).expect("proxy");
    let queue_url = airlock_aws::sqs(&moto.sdk_config())
        .create_queue()
        .queue_name("faults")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    Rig {
        moto,
        proxy,
        queue_url,
    }
}

impl Rig {
    fn via_proxy(&self, retry: RetryConfig) -> SdkConfig {
        sdk_config_for(&self.proxy.endpoint(), retry)
    }

    fn no_retries(&self) -> aws_sdk_sqs::Client {
        airlock_aws::sqs(&self.via_proxy(RetryConfig::disabled()))
    }

    /// How many messages moto really holds, read directly and not through the proxy.
    async fn messages_in_queue(&self) -> usize {
        let sqs = airlock_aws::sqs(&self.moto.sdk_config());
        let mut seen = 0;
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .expect("receive");
            if batch.messages().is_empty() {
                return seen;
            }
            seen += batch.messages().len();
        }
    }
}

async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<(), SdkError<aws_sdk_sqs::operation::send_message::SendMessageError>> {
    sqs.send_message()
        .queue_url(queue_url)
        .message_body("line 1")
        .send()
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_dropped_connection_is_a_dispatch_failure_and_nothing_happened() {
    let rig = rig().await;
    rig.proxy
        .set_plan(FaultPlan::scripted([Fault::DropConnection]));
    let err = send(&rig.no_retries(), &rig.queue_url)
        .await
        .expect_err("dropped");
    assert!(
        matches!(err, SdkError::DispatchFailure(_)),
        "expected DispatchFailure, got {err:?}"
    );
    assert_eq!(rig.messages_in_queue().await, 0);
}

#[tokio::test]
async fn a_dropped_response_is_a_dispatch_failure_but_the_request_happened() {
    let rig = rig().await;
    rig.proxy
        .set_plan(FaultPlan::scripted([Fault::DropResponse]));
    let err = send(&rig.no_retries(), &rig.queue_url)
        .await
        .expect_err("dropped");
    assert!(
        matches!(err, SdkError::DispatchFailure(_)),
        "expected DispatchFailure, got {err:?}"
    );
    assert_eq!(rig.messages_in_queue().await, 1);
}

#[tokio::test]
async fn a_server_error_is_a_service_error_with_status_500() {
    let rig = rig().await;
    rig.proxy
        .set_plan(FaultPlan::scripted([Fault::ServerError]));
    let err = send(&rig.no_retries(), &rig.queue_url)
        .await
        .expect_err("500");
    let SdkError::ServiceError(service) = &err else {
        panic!("expected ServiceError, got {err:?}");
    };
    assert_eq!(service.raw().status().as_u16(), 500);
    assert_eq!(err.code(), Some("InternalFailure"));
    assert_eq!(rig.messages_in_queue().await, 0);
}

#[tokio::test]
async fn throttling_is_a_service_error_with_the_throttling_code_in_json_and_query_protocols() {
    let rig = rig().await;
    rig.proxy.set_plan(FaultPlan::scripted([Fault::Throttle]));
    let err = send(&rig.no_retries(), &rig.queue_url)
        .await
        .expect_err("throttled");
    assert!(matches!(err, SdkError::ServiceError(_)), "{err:?}");
    assert_eq!(err.code(), Some("ThrottlingException"));

    // SNS speaks the XML query protocol; its throttling code is `Throttling`.
    rig.proxy.set_plan(FaultPlan::scripted([Fault::Throttle]));
    let sns = airlock_aws::sns(&rig.via_proxy(RetryConfig::disabled()));
    let err = sns
        .create_topic()
        .name("throttled")
        .send()
        .await
        .expect_err("throttled");
    assert!(matches!(err, SdkError::ServiceError(_)), "{err:?}");
    assert_eq!(err.code(), Some("Throttling"));
}

#[tokio::test]
async fn a_delay_past_the_attempt_timeout_is_a_timeout_error() {
    let rig = rig().await;
    rig.proxy
        .set_plan(FaultPlan::scripted([Fault::Delay(Duration::from_secs(2))]));
    let config = rig
        .via_proxy(RetryConfig::disabled())
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(500))
                .build(),
        )
        .build();
    let err = send(&airlock_aws::sqs(&config), &rig.queue_url)
        .await
        .expect_err("timed out");
    assert!(
        matches!(err, SdkError::TimeoutError(_)),
        "expected TimeoutError, got {err:?}"
    );
}

#[tokio::test]
async fn a_duplicated_request_succeeds_once_for_the_client_and_twice_on_the_server() {
    let rig = rig().await;
    rig.proxy.set_plan(FaultPlan::scripted([Fault::Duplicate]));
    send(&rig.no_retries(), &rig.queue_url)
        .await
        .expect("the client sees one success");
    assert_eq!(rig.messages_in_queue().await, 2);
}

#[tokio::test]
async fn standard_retries_recover_from_each_transient_fault() {
    let rig = rig().await;
    let config = rig
        .via_proxy(RetryConfig::standard().with_max_attempts(3))
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(800))
                .build(),
        )
        .build();
    let sqs = airlock_aws::sqs(&config);
    for fault in [
        Fault::DropConnection,
        Fault::ServerError,
        Fault::Throttle,
        Fault::Delay(Duration::from_secs(2)),
    ] {
        rig.proxy.clear_log();
        rig.proxy.set_plan(FaultPlan::scripted([fault.clone()]));
        send(&sqs, &rig.queue_url)
            .await
            .unwrap_or_else(|e| panic!("the SDK should recover from {fault:?}: {e:?}"));
        assert_eq!(
            rig.proxy.count("SendMessage"),
            2,
            "{fault:?}: one failed attempt, one retry"
        );
    }
    assert_eq!(rig.messages_in_queue().await, 4);
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let rig = rig().await;
    rig.proxy.set_plan(FaultPlan::scripted([
        Fault::Throttle,
        Fault::Throttle,
        Fault::Throttle,
    ]));
    let sqs = airlock_aws::sqs(&rig.via_proxy(RetryConfig::standard().with_max_attempts(3)));
    let err = send(&sqs, &rig.queue_url)
        .await
        .expect_err("three throttles exhaust three attempts");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(rig.proxy.count("SendMessage"), 3);
}

#[tokio::test]
async fn a_seeded_random_plan_is_survived_by_retries_and_scoped_to_its_operations() {
    let rig = rig().await;
    let rates = FaultRates {
        drop_connection: 0.15,
        server_error: 0.15,
        throttle: 0.15,
        delay: 0.2,
        max_delay: Duration::from_millis(100),
        ..FaultRates::default()
    };
    rig.proxy
        .set_plan(FaultPlan::random(42, rates).only_for(["SendMessage"]));
    let sqs = airlock_aws::sqs(
        &rig.via_proxy(
            RetryConfig::standard()
                .with_max_attempts(8)
                .with_max_backoff(Duration::from_millis(200)),
        ),
    );
    for _ in 0..20 {
        send(&sqs, &rig.queue_url)
            .await
            .expect("retried to success");
    }
    // Operations outside the plan's scope pass untouched.
    sqs.get_queue_attributes()
        .queue_url(&rig.queue_url)
        .send()
        .await
        .expect("unfaulted operation");
    let records = rig.proxy.requests();
    let faulted = records
        .iter()
        .filter(|r| {
            r.operation == "SendMessage" && !matches!(r.fault, Fault::Pass | Fault::Delay(_))
        })
        .count();
    assert!(faulted > 0, "seed 42 must inject some faults");
    assert!(
        records
            .iter()
            .filter(|r| r.operation == "GetQueueAttributes")
            .all(|r| r.fault == Fault::Pass)
    );
    assert!(records.iter().all(|r| r.service == "sqs"));
    assert_eq!(rig.messages_in_queue().await, 20);
}
