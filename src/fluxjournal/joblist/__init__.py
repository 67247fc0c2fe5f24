"""job-list's rules, the model behind the jobs table: the RFC 21 job states and results,
RFC 22 idsets and RFC 29 hostlists, and the ``uri`` memo of jobs that are Flux instances.
The job record that applies them is each core's ``JobRecord``."""
