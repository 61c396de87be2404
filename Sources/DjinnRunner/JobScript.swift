/// The shell script a job runs as (spec §5.1).
public enum JobScript {
    /// `#!/bin/sh`, `exec 2>&1`, `set -ex`, a blank line, then each command on its own line:
    /// stderr is merged into stdout, the script stops at the first failing command and traces
    /// each command before running it.
    public static func render(commands: [String]) -> String {
        var script = "#!/bin/sh\nexec 2>&1\nset -ex\n\n"
        for command in commands {
            script += command
            script += "\n"
        }
        return script
    }

    /// The script's file name: the job name with spaces replaced by `-`, plus `.sh`.
    ///
    /// The name is user input, so it is made a single harmless path component: `/` and NUL
    /// become `-` too (so neither `..` nor any directory can be reached — with the `.sh`
    /// suffix the result is never `.` or `..`), and it is cut to 250 bytes on a character
    /// boundary so the name stays within the 255-byte limit of file systems.
    public static func fileName(jobName: String) -> String {
        var name = ""
        var length = 0
        for scalar in jobName.unicodeScalars {
            let safe: Unicode.Scalar = (scalar == " " || scalar == "/" || scalar == "\0") ? "-" : scalar
            let size = UTF8.width(safe)
            if length + size > 250 { break }
            name.unicodeScalars.append(safe)
            length += size
        }
        return name + ".sh"
    }
}
