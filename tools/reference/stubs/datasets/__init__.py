"""Stand-in for Hugging Face `datasets` (see ../README.md): only what upstream's eval_utils imports."""
