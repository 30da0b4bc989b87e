"""The revisions, one file each, numbered in order (0001 is the qa 0.1.0 layout)."""
