"""The modelling table: anchors and splits, features, labels, and the audits of both."""
