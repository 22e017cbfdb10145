"""A customer's progress (stages, milestones, what comes next) and the lifecycle, for support and management."""
