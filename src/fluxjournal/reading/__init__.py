"""The read side: the archive's jobs selected, formatted and printed as ``flux jobs`` does."""
