# Starts moto's server for one test process.
#
# Why not `moto_server -p PORT`: picking a free port in Rust and handing it over races with
# other tests doing the same. Here the server binds port 0 itself and reports the port it got
# on stdout, so the port is ours from the moment it is known.
#
# Why the watchdog: the test harness stops the server by PID when the MotoServer is dropped,
# including during a panic. A test process killed outright (SIGKILL, a nextest timeout) runs
# no destructor, so the server also exits by itself once its parent process is gone.
# Why the KMS patch: moto 5.2.5 reads the MessageType of KMS Sign and Verify and then
# ignores it, so a DIGEST message is hashed once more and the signature covers
# SHA-256(digest), which AWS KMS never produces (it signs a DIGEST message as the hash
# itself). airlock signs request digests (MessageType=DIGEST), so without this every signed
# request would fail verification against moto. The patch changes nothing for RAW messages,
# and refuses what AWS refuses: a digest of the wrong length. Upstream: getmoto/moto#10202.
import contextvars
import os
import sys
import threading
import time

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def exit_when_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.2)


_digest_message = contextvars.ContextVar("airlock_kms_digest_message", default=False)


def honour_kms_digest_messages() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse
    from moto.kms.utils import ECDSAPrivateKey

    digest_hashes = {
        "ECDSA_SHA_256": hashes.SHA256,
        "ECDSA_SHA_384": hashes.SHA384,
        "ECDSA_SHA_512": hashes.SHA512,
    }

    def with_message_type(operation):
        def handler(self):
            if self._get_param("MessageType") != "DIGEST":
                return operation(self)
            algorithm = self._get_param("SigningAlgorithm")
            hash_type = digest_hashes.get(algorithm)
            if hash_type is None:
                # airlock signs with ECDSA only; refuse rather than sign RSA digests wrongly.
                raise ValidationException(
                    f"the airlock moto harness signs DIGEST messages with ECDSA only, not {algorithm}"
                )
            # The length check AWS makes: the digest must be the algorithm's hash length.
            if len(self._get_param("Message") or b"") != hash_type.digest_size:
                raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
            token = _digest_message.set(True)
            try:
                return operation(self)
            finally:
                _digest_message.reset(token)

        return handler

    KmsResponse.sign = with_message_type(KmsResponse.sign)
    KmsResponse.verify = with_message_type(KmsResponse.verify)

    hash_sign, hash_verify = ECDSAPrivateKey.sign, ECDSAPrivateKey.verify

    def prehashed(signing_algorithm):
        return ec.ECDSA(utils.Prehashed(digest_hashes[signing_algorithm]()))

    def sign(self, message, signing_algorithm):
        if not _digest_message.get():
            return hash_sign(self, message, signing_algorithm)
        if signing_algorithm not in self.valid_signing_algorithms:
            return hash_sign(self, message, signing_algorithm)  # moto's own refusal
        return self.private_key.sign(message, prehashed(signing_algorithm))

    def verify(self, message, signature, signing_algorithm):
        if not _digest_message.get() or signing_algorithm not in self.valid_signing_algorithms:
            return hash_verify(self, message, signature, signing_algorithm)
        try:
            self.private_key.public_key().verify(signature, message, prehashed(signing_algorithm))
            return True
        except Exception:
            return False

    ECDSAPrivateKey.sign = sign
    ECDSAPrivateKey.verify = verify


def main() -> None:
    honour_kms_digest_messages()
    parent_pid = os.getppid()
    threading.Thread(target=exit_when_orphaned, args=(parent_pid,), daemon=True).start()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    # moto builds some URLs (SQS queue URLs among them) from this variable.
    os.environ["MOTO_PORT"] = str(port)
    sys.stdout.write(f"AIRLOCK_MOTO_PORT={port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
