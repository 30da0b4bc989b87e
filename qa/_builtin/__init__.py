"""Built-in definitions shipped in the wheel (mapped from the repository's phantoms/ and procedures/)."""
