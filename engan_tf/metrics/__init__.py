"""Evaluation metrics, one module per task (toy densities, anomaly detection, images)."""
