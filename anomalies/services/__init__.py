"""Writes and workflows of the anomalies app, one module per subject: `scans` (runs, chunks,
what a chunk writes), `anomalies` (dismiss, reopen, actions) and `detection_settings`.

Import from the module (`from anomalies.services.scans import scan_start`): this package
re-exports nothing, so each caller names the subject it depends on."""
