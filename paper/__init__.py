"""The paper's catalogue: every figure and table as a target, and the reports that make
them from finished runs (tables, Table 1, panels, the trajectory and biased-view reports)."""
