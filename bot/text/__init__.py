"""Text for people, pure: money amounts, and model-written Markdown made safe to publish."""
