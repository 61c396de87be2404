import Testing
@testable import DjinnRunner

@Suite struct JobScriptTests {
    @Test func rendersTheScriptOfSpec5_1() {
        #expect(JobScript.render(commands: ["make", "make test"]) == "#!/bin/sh\nexec 2>&1\nset -ex\n\nmake\nmake test\n")
        #expect(JobScript.render(commands: [""]) == "#!/bin/sh\nexec 2>&1\nset -ex\n\n\n")
        #expect(JobScript.render(commands: []) == "#!/bin/sh\nexec 2>&1\nset -ex\n\n")
    }

    @Test func fileNameReplacesSpaces() {
        #expect(JobScript.fileName(jobName: "create-driver") == "create-driver.sh")
        #expect(JobScript.fileName(jobName: "run the tests") == "run-the-tests.sh")
        #expect(JobScript.fileName(jobName: "clone.1") == "clone.1.sh")
    }

    @Test func fileNameIsAlwaysOneHarmlessComponent() {
        #expect(JobScript.fileName(jobName: "../../etc/passwd") == "..-..-etc-passwd.sh")
        #expect(JobScript.fileName(jobName: "..") == "...sh")
        #expect(JobScript.fileName(jobName: "/abs") == "-abs.sh")
        #expect(JobScript.fileName(jobName: "nul\0byte") == "nul-byte.sh")
        for name in ["..", ".", "/", "a/../b", "../", "\0", "", String(repeating: "€", count: 200)] {
            let file = JobScript.fileName(jobName: name)
            #expect(!file.contains("/") && !file.contains("\0"))
            #expect(file != "." && file != "..")
            #expect(file.hasSuffix(".sh"))
            #expect(file.utf8.count <= 255)
        }
        #expect(JobScript.fileName(jobName: String(repeating: "€", count: 200)) == String(repeating: "€", count: 83) + ".sh")
    }
}
