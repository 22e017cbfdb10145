"""The Metaconnect console: pages for marketing ops, support, management and admins."""
