"""The customer pages: find a customer by any identifier, then everything about them on one page."""
