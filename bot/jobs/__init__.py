"""The job system: the job record, its store, the queue, the runner that claims and runs jobs."""
