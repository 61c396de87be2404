// DjinnSchema: filled in by its own commit.
