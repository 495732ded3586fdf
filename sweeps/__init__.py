"""From results.json files to the paper's figures and tables."""
