import DjinnConfig
import DjinnQEMU
import DjinnSSH

/// A driver's settings: the worker's driver file block merged with the build's manifest
/// `driver:` map (spec §5.1). A key the manifest sets (non-empty) wins; a key it leaves out
/// keeps the driver file's value (Go blanks it, which makes driver.conf's `image` and `addr`
/// dead settings). Anything missing or invalid is a build failure with the reason, never a
/// crash.
public enum DriverConfiguration {
    /// ssh: `addr` from the manifest (`addr`, or `address`, the key manifest validation
    /// demands, §12 item 11), else driver.conf; user, password, key, timeout and known_hosts
    /// from driver.conf (a build cannot turn host key checking off).
    public static func ssh(file: SSHDriverSettings?, manifest: [String: String]) -> Result<SSHDriver.Configuration, DriverError> {
        guard let file else {
            return .failure(DriverError("the worker has no \"driver ssh { … }\" block in its driver file"))
        }
        let addr = nonEmpty(manifest["addr"]) ?? nonEmpty(manifest["address"]) ?? file.addr
        guard !addr.isEmpty else {
            return .failure(DriverError("the ssh driver has no address (address in the manifest's driver, or addr in driver.conf)"))
        }
        guard let address = SSHAddress(parsing: addr) else {
            return .failure(DriverError("invalid ssh address \(addr) (expected host:port)"))
        }
        guard !file.user.isEmpty else { return .failure(DriverError("the ssh driver has no user (driver ssh { user … })")) }
        guard !file.key.isEmpty || !file.password.isEmpty else {
            return .failure(DriverError("the ssh driver has neither a key nor a password (driver ssh { key … } or { password … })"))
        }
        let credentials = SSHCredentials(
            user: file.user, password: file.password.isEmpty ? nil : file.password, privateKeyFile: nonEmpty(file.key))
        return .success(SSHDriver.Configuration(
            addressText: addr, address: address, credentials: credentials, connectTimeout: file.timeout,
            knownHostsFile: nonEmpty(file.knownHosts)))
    }

    /// qemu: `image` from the manifest, else driver.conf; `arch` from the worker's queue
    /// (`qemu-<arch>`), else the manifest, else driver.conf, else x86_64 (the only arch Djinn
    /// builds are submitted for); disks, cpus, memory from driver.conf.
    public static func qemu(
        file: QEMUDriverSettings?, manifest: [String: String], workerArch: String?
    ) -> Result<QEMUDriver.Configuration, DriverError> {
        guard let file else {
            return .failure(DriverError("the worker has no \"driver qemu { … }\" block in its driver file"))
        }
        let image = nonEmpty(manifest["image"]) ?? file.image
        let arch = nonEmpty(workerArch) ?? nonEmpty(manifest["arch"]) ?? nonEmpty(file.arch) ?? "x86_64"
        let problems = QEMUMachine.problems(arch: arch, cpus: file.cpus, memory: file.memory, disks: file.disks, image: image)
        guard problems.isEmpty else { return .failure(DriverError(problems.joined(separator: "; "))) }
        return .success(QEMUDriver.Configuration(arch: arch, cpus: file.cpus, memory: file.memory, disks: file.disks, image: image))
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
