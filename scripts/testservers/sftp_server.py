#!/usr/bin/env python3
"""An sshd serving only sftp with password authentication, for djinn-consumer's tests.

Needs root (sshd checks passwords against /etc/shadow). Creates the local user --user if it
does not exist (no home, no login shell) and sets its password, writes a host key and an
sshd_config into --dir, runs `sshd -D` on 127.0.0.1 at a free port, prints "PORT <n>" once it
accepts connections, and kills sshd (SIGKILL) when its standard input closes — the test
process closed its end or died — so it never outlives the tests; then it deletes --cleanup DIR.
"""
import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_user(user, password):
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user],
            check=True,
        )
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n".encode(), check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cleanup", help="a directory to delete on exit (the test's scratch files)")
    args = parser.parse_args()

    ensure_user(args.user, args.password)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    key = os.path.join(args.dir, "host_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)

    for _ in range(5):
        port = free_port()
        config = os.path.join(args.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(
                f"""Port {port}
ListenAddress 127.0.0.1
HostKey {key}
PidFile none
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {args.user}
StrictModes no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel VERBOSE
"""
            )
        log = open(os.path.join(args.dir, "sshd.log"), "ab")
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline and sshd.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        if sshd.poll() is None:
            break
    else:
        print("sshd did not start; see " + os.path.join(args.dir, "sshd.log"), file=sys.stderr)
        sys.exit(1)

    print(f"PORT {port}", flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        sshd.send_signal(signal.SIGKILL)
        sshd.wait()
        if args.cleanup:
            shutil.rmtree(args.cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
