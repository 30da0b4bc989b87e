"""HTML reports and plots (matplotlib with the Agg backend, imported only when a report is made)."""
