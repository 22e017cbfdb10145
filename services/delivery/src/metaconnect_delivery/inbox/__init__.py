"""The in-app inbox: what channel apps list, mark read and stream live."""
