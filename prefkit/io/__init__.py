"""File input and output: every file prefkit writes (atomic, declared), the raw-file sources it reads and
Hugging Face datasets in and out."""
