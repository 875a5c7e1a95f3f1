"""equitr on a local repository: the Python API (`equitr.fix` …), `equitr run`, syncing results."""
