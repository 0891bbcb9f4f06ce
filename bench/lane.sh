#!/usr/bin/env bash
# The deploy lane's throughput and latency, end to end, in one run:
#   - lines/s for 100-byte lines through the local transport and through moto (SNS/SQS/KMS);
#   - p50/p99 latency from a line printed by the job to the same line printed by
#     `airlock deploy`, at a steady 1,000 lines/s;
#   - through moto, messages/s of the lane against a plain boto3 loop of SendMessageBatch +
#     ReceiveMessage/DeleteMessageBatch moving the same number of messages of the same size
#     against the same server (the lane must reach 80% of it: airlock is not the bottleneck).
#
#   bench/lane.sh                 LINES=200000 by default
#   LINES=50000 bench/lane.sh
#
# Throughput counts from the first line `airlock deploy` prints to the last, so process start
# and request dispatch are not in it; latency is the job's print time (in the line) to the
# moment the bench reads the line from `airlock deploy`'s stdout, on one machine's clock.
#
# Targets (issue 5): >= 50,000 lines/s local; >= 80% of boto3's messages/s through moto;
# p50 latency <= 250 ms through moto. Last, the fault suite's 15 s freeze: what it adds to a
# run (issue 16).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup-test-env.sh >/dev/null
cargo build --release --locked -q -p airlock-cli
"$root/.venv/bin/python" - "$root/target/release/airlock" <<'PY'
import base64, json, os, socket, statistics, subprocess, sys, tempfile, threading, time

import boto3

airlock = sys.argv[1]
lines = int(os.environ.get("LINES", "200000"))

# The job: 100-byte lines (99 characters and a newline), each starting with the wall-clock
# time in ns at which it was printed; `rate` 0 means as fast as possible.
JOB = r"""
import os, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
out = sys.stdout.buffer
start = time.time()
for i in range(n):
    if rate:
        due = start + i / rate
        pause = due - time.time()
        if pause > 0:
            out.flush()
            time.sleep(pause)
    stamp = b"%020d %09d " % (time.time_ns(), i)
    out.write(stamp + b"x" * (99 - len(stamp)) + b"\n")
out.flush()
"""


def follow(cmd, env, cwd, start_runner=None):
    """Runs `airlock deploy`, reading its stdout line by line; returns (seconds from the first
    to the last line, latencies in ms, line count, deploy's exit code)."""
    deploy = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    err = []
    threading.Thread(target=lambda: err.append(deploy.stderr.read()), daemon=True).start()
    runner = start_runner() if start_runner else None
    latencies, count, first, last = [], 0, None, None
    for line in deploy.stdout:
        now = time.time_ns()
        if first is None:
            first = now
        last = now
        count += 1
        try:
            latencies.append((now - int(line[:20])) / 1e6)
        except ValueError:
            pass
    code = deploy.wait()
    if runner:
        runner.wait()
    if code != 0 or count == 0:
        sys.exit(f"bench: deploy exited {code} after {count} lines:\n"
                 + (err[0].decode(errors="replace") if err else ""))
    return ((last - first) / 1e9 if count > 1 else 0.0), latencies, count, code


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


results = []

# ---- local transport ------------------------------------------------------------------
with tempfile.TemporaryDirectory() as work:
    job = os.path.join(work, "job.py")
    with open(job, "w") as f:
        # The job reads its size and rate from the request's parameters (environment).
        f.write("import os, sys\nsys.argv = [sys.argv[0], os.environ['LINES'], os.environ['RATE']]\n" + JOB)
    with open(os.path.join(work, "airlock.toml"), "w") as f:
        f.write(f"""
[lane.jobs.bench]
command = ["python3", "{job}"]
timeout_secs = 600
[lane.jobs.bench.params.LINES]
pattern = "[0-9]+"
[lane.jobs.bench.params.RATE]
pattern = "[0-9.]+"
""")
    env = dict(os.environ, NO_COLOR="1")
    secs, _, count, _ = follow([airlock, "-q", "deploy", "--local", "--job", "bench",
                                "--param", f"LINES={lines}", "--param", "RATE=0"], env, work)
    results.append(("local", "throughput", count, secs))
    _, lat, count, _ = follow([airlock, "-q", "deploy", "--local", "--job", "bench",
                               "--param", "LINES=3000", "--param", "RATE=1000"], env, work)
    results.append(("local", "latency", count, lat))

# ---- moto ------------------------------------------------------------------------------
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"),
                         "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    aws_env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="AKIAFAKEFAKEFAKEFAKE",
                   AWS_SECRET_ACCESS_KEY="fake/fake/fake/fake/fake/fake/fake/fake",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"])
    sns, sqs, kms = (boto3.client(s, **kw) for s in ("sns", "sqs", "kms"))
    topic = sns.create_topic(Name="bench-requests")["TopicArn"]
    requests_url = sqs.create_queue(QueueName="bench-requests")["QueueUrl"]
    requests_arn = sqs.get_queue_attributes(QueueUrl=requests_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=requests_arn,
                  Attributes={"RawMessageDelivery": "true"})
    feedback_url = sqs.create_queue(QueueName="bench-feedback")["QueueUrl"]
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    aws_env.update(AIRLOCK_LANE_TOPIC_ARN=topic, AIRLOCK_LANE_FEEDBACK_QUEUE_URL=feedback_url,
                   AIRLOCK_LANE_SIGNING_KEY_ID=key)
    job = os.path.join(tempfile.gettempdir(), f"airlock-bench-job-{os.getpid()}.py")
    with open(job, "w") as f:
        f.write(JOB)

    def dispatcher(n, rate, stats):
        """Plays the dispatcher: takes the request and starts the runner for it."""
        def start():
            while True:
                got = sqs.receive_message(QueueUrl=requests_url, WaitTimeSeconds=1).get("Messages", [])
                if got:
                    break
            sqs.delete_message(QueueUrl=requests_url, ReceiptHandle=got[0]["ReceiptHandle"])
            envelope = json.loads(got[0]["Body"])
            request = json.loads(base64.b64decode(envelope["payload"]))
            return subprocess.Popen(
                [airlock, "--log-format", "json", "run", "--request-id", request["request_id"],
                 "--feedback", feedback_url, "--", "python3", job, str(n), str(rate)],
                env=aws_env, stdout=subprocess.DEVNULL, stderr=stats)
        return start

    with tempfile.TemporaryFile() as stats:
        secs, _, count, _ = follow([airlock, "-q", "deploy", "--job", "bench"], aws_env,
                                   tempfile.gettempdir(), dispatcher(lines, 0, stats))
        stats.seek(0)
        ended = [json.loads(l) for l in stats.read().splitlines() if b'"messages"' in l]
    results.append(("moto", "throughput", count, secs))
    if not ended:
        sys.exit("bench: the runner did not log how many messages it sent")
    fields = ended[-1].get("fields", ended[-1])
    messages = int(fields["messages"])
    # The job printed lines x 100 bytes; JSON adds little to plain text.
    body_bytes = lines * 100
    with tempfile.TemporaryFile() as stats:
        _, lat, count, _ = follow([airlock, "-q", "deploy", "--job", "bench"], aws_env,
                                  tempfile.gettempdir(), dispatcher(3000, 1000, stats))
    results.append(("moto", "latency", count, lat))

    # The same number of messages of the same size through plain boto3, send and receive
    # concurrently as the lane does.
    size = max(1, body_bytes // max(1, messages))
    body = "x" * size
    per_batch = max(1, min(10, (256 * 1024) // size))
    boto_messages = max(messages, 10)
    start = time.time()

    def send():
        sent = 0
        while sent < boto_messages:
            k = min(per_batch, boto_messages - sent)
            sqs.send_message_batch(QueueUrl=feedback_url, Entries=[
                {"Id": str(i), "MessageBody": body} for i in range(k)])
            sent += k
    sender = threading.Thread(target=send)
    sender.start()
    received = 0
    while received < boto_messages:
        got = sqs.receive_message(QueueUrl=feedback_url, MaxNumberOfMessages=10,
                                  WaitTimeSeconds=1).get("Messages", [])
        if got:
            sqs.delete_message_batch(QueueUrl=feedback_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            received += len(got)
    sender.join()
    boto_secs = time.time() - start
finally:
    moto.terminate()
    moto.wait()

print()
print(f"deploy lane, {lines} lines of 100 bytes; latency at 1,000 lines/s (3,000 lines)")
print(f"{'transport':<10} {'lines/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
table = {}
for transport, kind, count, value in results:
    table.setdefault(transport, {})[kind] = (count, value)
for transport in ("local", "moto"):
    count, secs = table[transport]["throughput"]
    lat = table[transport]["latency"][1]
    print(f"{transport:<10} {count / secs if secs else float('inf'):>10.0f} {pct(lat, 0.5):>8.1f} {pct(lat, 0.99):>8.1f}")
moto_secs = table["moto"]["throughput"][1]
lane_rate = messages / moto_secs if moto_secs else float("nan")
boto_rate = boto_messages / boto_secs
print()
print(f"through moto: {messages} messages of ~{size} bytes")
print(f"  airlock lane   {lane_rate:8.1f} messages/s")
print(f"  boto3 loop     {boto_rate:8.1f} messages/s (same count and size, same server)")
print(f"  ratio          {lane_rate / boto_rate * 100:8.0f} %  (target >= 80 %)")
PY

# The fault suite's worst case (issue 16): both endpoints frozen for 15 s, 2 s into a job
# printing 400 lines over about 5 s, against the same job without faults. The test asserts
# that every line arrives once, in order, with the job's exit code and an empty queue; this
# prints how much the freeze added to the whole run.
echo
echo "fault suite: the delay a 15 s freeze adds (crates/lane/tests/aws_lane_faults.rs)"
export PATH="$root/.tools/bin:$PATH"
cargo nextest run --locked -p airlock-lane --features aws --test aws_lane_faults \
    --no-capture -E 'test(a_fifteen_second_freeze_loses_nothing)' 2>&1 |
    grep '^freeze 15 s' | sed 's/^/  /'
