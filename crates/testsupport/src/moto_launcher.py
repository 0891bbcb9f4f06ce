# Starts moto's server for one test process.
#
# Why not `moto_server -p PORT`: picking a free port in Rust and handing it over races with
# other tests doing the same. Here the server binds port 0 itself and reports the port it got
# on stdout, so the port is ours from the moment it is known.
#
# Why the watchdog: the test harness stops the server by PID when the MotoServer is dropped,
# including during a panic. A test process killed outright (SIGKILL, a nextest timeout) runs
# no destructor, so the server also exits by itself once its parent process is gone.
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


def main() -> None:
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
