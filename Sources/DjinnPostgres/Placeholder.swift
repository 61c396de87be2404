// DjinnPostgres: filled in by its own commit.
