#!/usr/bin/env python3
"""An SMTP sink for the notification tests, on aiosmtpd (scripts/install-deps puts it in
.venv-testservers). Listens on 127.0.0.1 (a free port unless --port), prints "PORT <n>",
and writes each accepted message to --dir as <n>.json: {"mail_from", "rcpt_tos", "data"}.
Recipients whose local part starts with "refuse" get 550. With --user/--password, AUTH
(PLAIN/LOGIN, allowed without TLS) is required before MAIL. Exits when standard input
closes (the test ended or died); then deletes --cleanup DIR, if given.
"""
import argparse
import json
import os
import shutil
import socket
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].lower().startswith("refuse"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, f"{n}.json"))
        return "250 Message accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cleanup")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    options = {}
    if args.user:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == args.user
                and auth_data.password.decode() == args.password
            )
            return AuthResult(success=ok, handled=False)

        options = dict(authenticator=authenticate, auth_required=True, auth_require_tls=False)

    # AUTH without TLS is what the tests want (loopback only); aiosmtpd warns about it.
    warnings.simplefilter("ignore")
    port = args.port or free_port()
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"PORT {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()
        if args.cleanup:
            shutil.rmtree(args.cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
