"""The fake providers: one module per provider, each with its router, validation and error shape."""
