"""The return path: Canvas account reports delivered into each institution's SFTP /outbox.

A pipeline stage of its own: triggers (schedule, after an import, a request file) become
export runs in the store (planner), each run is carried through Canvas's account reports API
(steps, canvas_reports) and published read-only into the institution's home (outbox); the
exporter is the runner that drives them.
"""
