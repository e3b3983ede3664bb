"""What people read: the report and its figures, the run summary, the console, progress
bars and alert messages."""
