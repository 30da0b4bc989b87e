"""Daily phantom QA: definitions, synthetic series, localisation and analysis."""
