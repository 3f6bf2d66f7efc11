"""Report folders: CSV schemas, atomic writing, summaries and plots."""
