"""Worked examples of extending linpath from outside its packages."""
