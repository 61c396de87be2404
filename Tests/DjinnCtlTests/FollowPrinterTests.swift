import DjinnBuilds
import Testing
@testable import DjinnCtlCommands

/// What `-follow` prints at the end: only what the build output adds to the jobs' output.
@Suite struct FollowPrinterTests {
    @Test func theBuildOutputDoesNotRepeatTheJobsOutput() {
        var printer = FollowPrinter()
        var printed = ""
        printed += printer.render(.jobStatus(stage: "build", job: "compile", status: .running))
        printed += printer.render(.jobOutput(stage: "build", job: "compile", text: "+ make\n"))
        printed += printer.render(.jobOutput(stage: "build", job: "compile", text: "cc -o app\n"))
        printed += printer.render(.jobOutput(stage: "test", job: "unit", text: "+ ./app\nboom"))
        printed += printer.render(.jobStatus(stage: "test", job: "unit", status: .failed))
        printed += printer.render(.finished(
            status: .failed, output: "+ make\ncc -o app\n+ ./app\nboom\n\nerror: job unit in stage test failed: exit status 1\n"))
        #expect(printed == """
            ==> build/compile: running
            + make
            cc -o app
            + ./app
            boom
            ==> test/unit: failed
            error: job unit in stage test failed: exit status 1

            """)
    }

    @Test func aBuildOutputThatAddsNothingPrintsNothing() {
        var printer = FollowPrinter()
        _ = printer.render(.jobOutput(stage: "build", job: "compile", text: "+ make\n"))
        #expect(printer.render(.finished(status: .passed, output: "+ make\n")) == "")
        #expect(printer.render(.finished(status: .passed, output: nil)) == "")
    }

    @Test func outputNotShownBeforeIsPrinted() {
        var printer = FollowPrinter()
        #expect(printer.render(.finished(status: .failed, output: "driver error")) == "driver error\n")
    }
}
