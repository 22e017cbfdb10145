"""The personality model: instruments, scoring, posterior estimate, colour derivation.

Pure code: plain functions over plain data, no I/O beyond reading the packaged
instrument files.
"""
