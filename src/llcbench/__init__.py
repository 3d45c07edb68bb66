"""LLC estimation of small neural networks: models, data, posteriors, samplers, diagnostics."""
