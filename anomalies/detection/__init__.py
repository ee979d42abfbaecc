"""The pure detection engine: arrays and dataframes in, dataclasses out.

Nothing in this package may import Django: it runs in the scan workers, in the CLI
(`python -m anomalies.detection`) and in benchmarks alike. Filled in by the engine issue.
"""
