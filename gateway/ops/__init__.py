"""The operator surface: the ``gateway`` command line and what its commands do (status,
show, holds, quarantine, checks, institutions.d changes), kept apart from the pipeline."""
