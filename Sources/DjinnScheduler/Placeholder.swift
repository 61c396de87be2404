// DjinnScheduler: placeholder so the package builds on this branch.
