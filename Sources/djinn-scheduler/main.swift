import Foundation
import DjinnScheduler
import DjinnDaemon

exit(await DaemonMain.run(SchedulerProgram.self))
