"""From scores to action: priority, group comparisons, segments, campaign, summary."""
