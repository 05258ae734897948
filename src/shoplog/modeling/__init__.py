"""Models: baselines and learners, tuning, metrics, explanations, saved artifacts, scoring."""
