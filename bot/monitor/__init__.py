"""The PerformanceMonitor: what one job did, how long each part took, what it cost (pure records)."""
