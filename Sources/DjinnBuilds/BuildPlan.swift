import Foundation
import DjinnManifest

/// Which queue a manifest's builds go to (spec §6.4 step 1): `builds_<key>`, where the key is the
/// driver type, and for qemu `qemu-<arch>` (arch `x86_64` unless the manifest says otherwise).
public enum BuildQueue {
    /// The keys Djinn knows (its `driver.IsValid`): a known key that is not enabled is "disabled",
    /// anything else "unknown".
    public static let knownKeys: Set<String> = ["ssh", "qemu", "qemu-x86_64", "docker", "os"]

    /// The queue key of a manifest's driver block (the type alone if it has no valid type).
    public static func key(for driver: [String: String]) -> String {
        let type = driver["type"] ?? ""
        guard type == DriverType.qemu.rawValue else { return type }
        let arch = driver["arch"] ?? ""
        return "qemu-" + (arch.isEmpty ? "x86_64" : arch)
    }

    /// The `build_drivers.type` of a queue key (Djinn's `driver.Lookup`); nil if unknown.
    public static func driverType(forKey key: String) -> DriverType? {
        switch key {
        case "ssh": .ssh
        case "qemu", "qemu-x86_64": .qemu
        case "docker": .docker
        case "os": .os
        default: nil
        }
    }

    /// `builds_<key>`.
    public static func name(forKey key: String) -> String { "builds_" + key }

    /// Checks a key against the enabled ones, with Djinn's two distinct errors.
    public static func check(key: String, enabled: Set<String>) throws(BuildSubmissionError) {
        guard knownKeys.contains(key), driverType(forKey: key) != nil else { throw .unknownDriver(key) }
        guard enabled.contains(key) else { throw .driverDisabled(key) }
    }
}

/// The stages and jobs a build gets at submission (spec §6.5 steps 5–7), worked out from the
/// manifest without I/O: a `setup - #N` stage first with `create-driver` and one `clone.<i>`
/// job per source, then the manifest's stages and jobs with default names and slugs.
public struct BuildPlan: Sendable, Equatable {
    public struct Stage: Sendable, Equatable {
        public var name: String
        public var canFail: Bool
    }

    public struct Job: Sendable, Equatable {
        public var stage: String
        public var name: String
        public var commands: [String]
        /// (path in the build environment, artifact name), sorted as the manifest encodes them.
        public var artifacts: [Artifact]
    }

    public struct Artifact: Sendable, Equatable {
        public var source: String
        public var name: String
    }

    /// In execution order; stage rows are created in this order.
    public var stages: [Stage]
    /// In creation order: the setup jobs, then the manifest's in manifest order.
    public var jobs: [Job]

    public init(manifest: Manifest, buildNumber: Int64) {
        let setup = Self.setupStageName(buildNumber: buildNumber)
        let allowFailures = Set(manifest.allowFailures)
        stages = [Stage(name: setup, canFail: allowFailures.contains(setup))]
            + manifest.stages.map { Stage(name: $0, canFail: allowFailures.contains($0)) }

        jobs = [Job(stage: setup, name: "create-driver", commands: [], artifacts: [])]
        for (index, source) in manifest.sources.enumerated() {
            jobs.append(Job(stage: setup, name: "clone.\(index)", commands: [
                "mkdir -p " + source.dir,
                "git clone -q " + source.url + " " + source.dir,
                "cd " + source.dir,
                "git checkout " + source.ref,
            ], artifacts: []))
        }

        // Default names count jobs per run of the same stage, as Djinn does.
        let declared = Set(manifest.stages)
        var previousStage: String?
        var number = 0
        for job in manifest.jobs where declared.contains(job.stage) {
            if job.stage == previousStage {
                number += 1
            } else {
                previousStage = job.stage
                number = 1
            }
            let defaultName = Self.slug(job.stage + "." + String(number))
            let written = job.name.isEmpty ? defaultName : Self.slug(job.name)
            jobs.append(Job(
                stage: job.stage,
                // A name made only of punctuation slugs to nothing: fall back to the default.
                name: written.isEmpty ? defaultName : written,
                commands: job.commands,
                artifacts: job.artifacts.sortedEntries.map { Artifact(source: $0.source, name: $0.destination) }))
        }
    }

    /// `setup - #<number>`, the stage the worker creates the driver in.
    public static func setupStageName(buildNumber: Int64) -> String {
        "setup - #\(buildNumber)"
    }

    /// Djinn's job-name slug: trim whitespace; every character other than an ASCII letter, digit
    /// or `.` becomes `-`; runs of `-` collapse; one leading and one trailing `-` go; lower case.
    /// `Build & Test!` → `build-test`, `Unit Tests.1` → `unit-tests.1`.
    public static func slug(_ name: String) -> String {
        var slug = ""
        var lastWasDash = false
        // Go's regexp works on code points, so one non-ASCII code point is one `-`.
        for scalar in name.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars {
            let keep = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "."
            if keep {
                slug.unicodeScalars.append(scalar)
                lastWasDash = false
            } else if !lastWasDash {
                slug.append("-")
                lastWasDash = true
            }
        }
        if slug.hasSuffix("-") { slug.removeLast() }
        if slug.hasPrefix("-") { slug.removeFirst() }
        return slug.lowercased()
    }
}
