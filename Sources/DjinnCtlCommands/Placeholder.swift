// DjinnCtlCommands: filled in by its own commit.
