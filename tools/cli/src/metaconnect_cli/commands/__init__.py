"""One module per `metaconnect` sub-command group; `metaconnect_cli.main` assembles them."""
