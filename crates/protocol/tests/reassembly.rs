//! The property the feedback path stands on: whatever order and however often SQS delivers a
//! request's messages, mixed with other requests' messages and the dispatcher's events, the
//! follower reassembles exactly the bytes the job wrote, per stream, and the exit status.

use std::collections::BTreeMap;

use airlock_protocol::bytes::WireBytes;
use airlock_protocol::encode::{MIN_MESSAGE_LIMIT, OutputPacker};
use airlock_protocol::reassemble::{Accepted, Reassembler};
use airlock_protocol::{ExitStatus, Feedback, FeedbackBody, OutputChunk, Stream};
use proptest::prelude::*;

const REQUEST: &str = "3f0c9a1e-8b7d-4c6e-a5f4-1e2d3c4b5a69";
const OTHER: &str = "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a";

/// What the runner does: packs output, sends heartbeats in between, and ends with Finished.
#[derive(Debug, Clone)]
enum Step {
    Output(Stream, Vec<u8>),
    Flush,
    Heartbeat,
}

fn step() -> impl Strategy<Value = Step> {
    let bytes = prop_oneof![
        3 => "[ -~]{0,60}\n".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => (0usize..4000).prop_map(|n| "x\0é".repeat(n / 4).into_bytes()),
    ];
    prop_oneof![
        6 => (any::<bool>(), bytes).prop_map(|(stderr, bytes)| {
            Step::Output(if stderr { Stream::Stderr } else { Stream::Stdout }, bytes)
        }),
        2 => Just(Step::Flush),
        1 => Just(Step::Heartbeat),
    ]
}

fn exit_status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        any::<i32>().prop_map(ExitStatus::Code),
        (1..64i32).prop_map(ExitStatus::Signal)
    ]
}

/// Runs the steps through a packer: the request's messages, and the bytes written per stream.
fn runner(
    request_id: &str,
    steps: &[Step],
    limit: usize,
    exit: ExitStatus,
) -> (Vec<Feedback>, BTreeMap<Stream, Vec<u8>>) {
    let mut packer = OutputPacker::new(request_id, limit);
    let mut next_seq = 1;
    let mut messages = Vec::new();
    let mut written = BTreeMap::<Stream, Vec<u8>>::new();
    for (t, step) in (1_700_000_000_000_000u64..).zip(steps) {
        match step {
            Step::Output(stream, bytes) => {
                written.entry(*stream).or_default().extend(bytes);
                let chunk = OutputChunk {
                    stream: *stream,
                    t,
                    bytes: WireBytes(bytes.clone()),
                };
                messages.extend(packer.push(chunk, &mut next_seq));
            }
            Step::Flush => messages.extend(packer.flush(&mut next_seq)),
            Step::Heartbeat => {
                messages.extend(packer.flush(&mut next_seq));
                messages.push(Feedback::new(
                    request_id,
                    next_seq,
                    FeedbackBody::Heartbeat {
                        last_output_seq: next_seq - 1,
                    },
                ));
                next_seq += 1;
            }
        }
    }
    messages.extend(packer.flush(&mut next_seq));
    messages.push(Feedback::new(
        request_id,
        next_seq,
        FeedbackBody::Finished {
            exit,
            duration_ms: 1234,
            timed_out: false,
            lost: Vec::new(),
        },
    ));
    written.retain(|_, bytes| !bytes.is_empty());
    (messages, written)
}

/// A tiny deterministic generator for shuffling from a proptest-chosen seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_order_and_any_duplication_reassembles_the_same_output(
        steps in proptest::collection::vec(step(), 0..60),
        other_steps in proptest::collection::vec(step(), 0..10),
        limit in MIN_MESSAGE_LIMIT..=8 * 1024,
        exit in exit_status(),
        shuffle_seed in any::<u64>(),
        duplicates in 0usize..40,
    ) {
        let (messages, written) = runner(REQUEST, &steps, limit, exit);
        let (others, _) = runner(OTHER, &other_steps, limit, ExitStatus::Code(1));
        let events = [
            FeedbackBody::Accepted { job: "web".into() },
            FeedbackBody::Started { task: "arn:aws:ecs:eu-west-1:123456789012:task/x".into() },
            FeedbackBody::TaskStopped {
                stop_code: "EssentialContainerExited".into(),
                reason: "done".into(),
                exit_code: Some(0),
            },
        ];

        // What SQS may deliver: every message at least once, in any order, mixed with the rest.
        let mut rng = SplitMix(shuffle_seed);
        let mut delivered = messages.clone();
        for _ in 0..duplicates {
            let again = delivered[rng.below(delivered.len())].clone();
            delivered.push(again);
        }
        delivered.extend(others);
        delivered.extend(events.iter().map(|body| Feedback::new(REQUEST, 0, body.clone())));
        for i in (1..delivered.len()).rev() {
            delivered.swap(i, rng.below(i + 1));
        }

        let mut reassembler = Reassembler::new(REQUEST);
        let mut released = Vec::new();
        let mut event_count = 0;
        for message in delivered {
            // Through the wire form, as the follower sees it.
            let message = Feedback::from_json(&message.to_json()).expect("parses");
            let was_complete = reassembler.is_complete();
            match reassembler.accept(message) {
                Accepted::Ready(ready) => {
                    prop_assert!(!was_complete, "a message accepted after completion");
                    released.extend(ready);
                }
                Accepted::Event(_) => event_count += 1,
                Accepted::Duplicate { .. } | Accepted::OtherRequest { .. } => {}
            }
        }

        prop_assert!(reassembler.is_complete());
        prop_assert!(reassembler.gaps().is_empty());
        prop_assert!(reassembler.lost().is_empty());
        prop_assert_eq!(event_count, events.len());
        // Exactly the runner's messages, each once, in seq order.
        prop_assert_eq!(&released, &messages);

        let mut reassembled = BTreeMap::<Stream, Vec<u8>>::new();
        let mut final_exit = None;
        for message in &released {
            match &message.body {
                FeedbackBody::Output { chunks } => {
                    for chunk in chunks {
                        reassembled.entry(chunk.stream).or_default().extend(&chunk.bytes.0);
                    }
                }
                FeedbackBody::Finished { exit, .. } => final_exit = Some(*exit),
                FeedbackBody::Heartbeat { .. } => {}
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(reassembled, written);
        prop_assert_eq!(final_exit, Some(exit));
    }
}
