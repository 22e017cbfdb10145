"""Which customer each ref names (read from `mc.customers.v1`), and inbox tokens minted by ref."""
