"""The management digest: settings, the weekly schedule, the builder and "Send now"."""
