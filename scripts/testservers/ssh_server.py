#!/usr/bin/env python3
"""A throwaway sshd on loopback for the tests: shell-capable for the ssh driver's tests
(djinn-worker, DjinnSSH), or with --sftp-only serving only sftp with password login, for
djinn-consumer's image downloads.

Needs root (sshd checks passwords against /etc/shadow and switches users). Creates the local
user --user if it does not exist and sets its password: home /home/<user> and shell /bin/sh,
or with --sftp-only no home and no login shell. Writes into --dir two host keys (host_ed25519,
host_ecdsa, each with its .pub), a client key pair (client_ed25519, its public half the only
line of authorized_keys; not with --sftp-only) and an sshd_config allowing that user only;
runs `sshd -D` on 127.0.0.1 at a free port, prints "PORT <n>" once it accepts connections,
and kills sshd (SIGKILL) when its standard input closes — the test process closed its end or
died — so it never outlives the tests; then it deletes --cleanup DIR.
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


def ensure_user(user, password, sftp_only):
    try:
        pwd.getpwnam(user)
    except KeyError:
        if sftp_only:
            command = ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user]
        else:
            command = ["useradd", "--create-home", "--home-dir", f"/home/{user}", "--shell", "/bin/sh", user]
        subprocess.run(command, check=True)
    if not sftp_only:
        entry = pwd.getpwnam(user)
        os.makedirs(entry.pw_dir, mode=0o755, exist_ok=True)
        os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n".encode(), check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cleanup", help="a directory to delete on exit (the test's scratch files)")
    parser.add_argument("--sftp-only", action="store_true", help="password login, sftp only (no shell, no keys)")
    args = parser.parse_args()

    ensure_user(args.user, args.password, args.sftp_only)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    # Two host keys, as a stock Debian sshd has: a client checking known_hosts must ask for
    # the type on file (libssh2 prefers ECDSA, OpenSSH Ed25519).
    host_keys = []
    for kind in ("ed25519", "ecdsa"):
        host_key = os.path.join(args.dir, f"host_{kind}")
        if not os.path.exists(host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", host_key], check=True)
        host_keys.append(host_key)
    client_key = os.path.join(args.dir, "client_ed25519")
    if not os.path.exists(client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "djinn-test", "-f", client_key], check=True)
    authorized = os.path.join(args.dir, "authorized_keys")
    shutil.copyfile(client_key + ".pub", authorized)
    os.chmod(authorized, 0o644)
    # sshd reads the files as the user: the directory must be reachable.
    os.chmod(args.dir, 0o755)

    for _ in range(5):
        port = free_port()
        config = os.path.join(args.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(
                f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_keys[0]}
HostKey {host_keys[1]}
PidFile none
PasswordAuthentication yes
PermitEmptyPasswords no
KbdInteractiveAuthentication no
PubkeyAuthentication {"no" if args.sftp_only else "yes"}
AuthorizedKeysFile {authorized}
UsePAM no
PermitRootLogin no
AllowUsers {args.user}
StrictModes no
MaxSessions 50
MaxStartups 50:30:100
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""
            )
            if args.sftp_only:
                f.write("ForceCommand internal-sftp\n")
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
