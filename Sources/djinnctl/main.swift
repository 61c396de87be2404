import DjinnCtlCommands

await Djinnctl.runMain()
