"""What users do: data quality and exploration, seasonality, journeys."""
