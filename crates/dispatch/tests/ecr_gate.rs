//! The ECR gate against moto's registry: an image is admitted only if its digest exists, it
//! was scanned, and the scan found nothing at or above the job's severity. moto's scan of any
//! image reports one HIGH finding.
#![cfg(feature = "aws")]

mod common;

use airlock_dispatch::Decision;
use airlock_protocol::ImageRef;
use common::{KEY_ID, REPO, Stage, sign, trusted_key, valid_request};

/// Pushes an image manifest to `deploy/app`; returns its digest (hex).
fn push(stage: &Stage, tag: &str, scan: bool) -> String {
    let ecr = airlock_aws::ecr(&stage.moto.sdk_config());
    stage.runtime.block_on(async {
        let _ = ecr.create_repository().repository_name("deploy/app").send().await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{}", "c".repeat(64))},
            "layers": [],
            "annotations": {"tag": tag}
        });
        // The digest of the manifest, as a registry computes it (moto needs it given).
        let digest = {
            use sha2::Digest as _;
            let hash = sha2::Sha256::digest(manifest.to_string().as_bytes());
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let out = ecr
            .put_image()
            .repository_name("deploy/app")
            .image_manifest(manifest.to_string())
            .image_digest(format!("sha256:{digest}"))
            .image_tag(tag)
            .send()
            .await
            .expect("ecr:PutImage");
        let id = out.image().and_then(|i| i.image_id()).expect("image id").clone();
        if scan {
            ecr.start_image_scan()
                .repository_name("deploy/app")
                .image_id(id.clone())
                .send()
                .await
                .expect("ecr:StartImageScan");
        }
        id.image_digest()
            .and_then(|d| d.strip_prefix("sha256:"))
            .expect("sha256 digest")
            .to_string()
    })
}

fn deploy(stage: &Stage, digest: &str) -> Decision {
    let mut request = valid_request();
    request.image = Some(ImageRef::parse(&format!("{REPO}@sha256:{digest}")).expect("image"));
    let decision = stage
        .runtime
        .block_on(
            stage
                .dispatcher()
                .handle_envelope(&sign(&request, &trusted_key(), KEY_ID)),
        )
        .expect("dispatch");
    // Free the lane for the next case.
    if let Decision::Started { task_arn, .. } = &decision {
        let stopped = airlock_dispatch::dispatcher::StoppedTask {
            task_arn: task_arn.clone(),
            stop_code: "EssentialContainerExited".into(),
            stopped_reason: "done".into(),
            containers: vec![],
        };
        stage
            .runtime
            .block_on(stage.dispatcher().handle_stopped(&stopped))
            .expect("stopped");
    }
    decision
}

fn gated(stage: &mut Stage, severity: &str) {
    stage.config_text.push_str(&format!(
        "[dispatch.jobs.web.ecr_gate]\nseverity = \"{severity}\"\n"
    ));
}

#[test]
fn the_gate_admits_only_scanned_images_without_findings_at_its_severity() {
    let mut stage = Stage::start();
    gated(&mut stage, "high");
    let scanned = push(&stage, "v1", true);
    let unscanned = push(&stage, "v2", false);

    let refused = |decision: &Decision, part: &str| matches!(decision, Decision::Rejected { code: "image_gate", reason, .. } if reason.contains(part));
    let d = deploy(&stage, &scanned);
    assert!(refused(&d, "1 HIGH"), "{d:?}");
    let d = deploy(&stage, &unscanned);
    assert!(refused(&d, "no completed scan"), "{d:?}");
    let d = deploy(&stage, &"d".repeat(64));
    assert!(refused(&d, "not in the registry"), "{d:?}");
    assert!(stage.tasks().is_empty());

    // The same scanned image under a gate that only stops CRITICAL findings.
    let mut lenient = Stage::start();
    gated(&mut lenient, "critical");
    let digest = push(&lenient, "v1", true);
    let d = deploy(&lenient, &digest);
    assert!(matches!(d, Decision::Started { .. }), "{d:?}");
}
