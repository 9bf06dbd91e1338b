"""The booking workflow: durable stages from a CAR submission to SRE, IDR, IAQ and IAR.

``pipeline``      submit, Worker (lease, run stages, commit), run_workers, status, responses, reviews
``stages``        one function per stage; PipelineConfig; what each stage commits
``queue``         the durable job table: leases, fenced advances, retries (SQLite and PostgreSQL)
``gallery``       each worker's in-memory search galleries, topped up by watermark
``enrolment``     criminal (CNA) and immigration (IEN) enrolment transactions into the repositories
``header``        keying a submission by its Type-1 header
``status_determination``  status, level, priority and action for an immigration match

See docs/pipeline.md for the stages and why every effect happens exactly once.
"""
