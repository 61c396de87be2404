import Foundation
import DjinnConsumer
import DjinnDaemon

exit(await DaemonMain.run(ConsumerProgram.self))
