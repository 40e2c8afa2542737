"""Files and processes: the run harness every command declares its files and processes to, every file write
(atomic, swept on any exit), the raw-file sources, Hugging Face datasets in and out, and the child processes."""
