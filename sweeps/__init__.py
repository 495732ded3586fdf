"""Launching: the sweep launcher, devices and jobs, `run_target` and `plan`."""
