// DjinnWorker: placeholder so the package builds on this branch.
