#!/usr/bin/env python3
"""An HTTP receiver for the notification tests (stdlib only): webhooks and stand-ins for
the GitHub and GitLab status APIs. Listens on 127.0.0.1 (port 0 unless --port), prints
"PORT <n>", and writes every request to --dir as <n>.json: {"method", "path", "headers"
(list of [name, value]), "body"} before answering. Exits when standard input closes; then
deletes --cleanup DIR, if given.

Answers (by path, query ignored):
  .../hang...            never (the connection stays open until the receiver exits)
  .../status/<code>...   <code> with body "status <code>"
  .../flaky/<n>...       503 for the first <n> requests to that path, then 200
  /github/..., /gitlab/... 201 with body {"id": 1}
  anything else          200 with body "ok" and header X-Receiver: djinn-test
"""
import argparse
import json
import os
import re
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counter = {"n": 0}
flaky_seen = {}
stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "djinn-test"

    def log_message(self, fmt, *args):
        pass

    def record(self, body):
        with lock:
            counter["n"] += 1
            n = counter["n"]
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        tmp = os.path.join(self.server.directory, f".{n}.tmp")
        with open(tmp, "w") as f:
            json.dump(entry, f)
        os.rename(tmp, os.path.join(self.server.directory, f"{n}.json"))

    def answer(self, status, body, extra=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.record(body)
        path = self.path.split("?")[0]
        if "/hang" in path:
            stopping.wait()
            return
        m = re.search(r"/status/(\d+)", path)
        if m:
            code = int(m.group(1))
            self.answer(code, f"status {code}")
            return
        m = re.search(r"/flaky/(\d+)", path)
        if m:
            with lock:
                seen = flaky_seen.get(path, 0)
                flaky_seen[path] = seen + 1
            if seen < int(m.group(1)):
                self.answer(503, "not yet")
            else:
                self.answer(200, "ok now")
            return
        if path.startswith("/github/") or path.startswith("/gitlab/"):
            self.answer(201, '{"id": 1}')
            return
        self.answer(200, "ok", [("X-Receiver", "djinn-test")])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cleanup")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.directory = args.dir
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        sys.stdin.read()
    finally:
        stopping.set()
        server.shutdown()
        if args.cleanup:
            shutil.rmtree(args.cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
