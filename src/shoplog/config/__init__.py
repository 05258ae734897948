"""Settings of a run: the validated parameters and every path the project reads or writes."""
