"""`make bench`: linpath's speed, each line a ratio of two ways measured side by side."""
