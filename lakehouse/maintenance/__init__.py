"""Lake maintenance: compaction, sort clustering, retention and vacuum, each with a dry run and
an audit record in `lakehouse.maintenance_history`."""
