import Foundation
import DjinnWorker
import DjinnDaemon

exit(await DaemonMain.run(WorkerProgram.self))
