"""Task threads: one per customer objective across channels; the commands that change them and their reads."""
