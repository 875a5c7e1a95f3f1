"""The interpretation layer: turns a small model's messy reply into a validated plan."""
