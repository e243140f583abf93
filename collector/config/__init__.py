"""The service's configuration: settings, the target file, relabeling, units, YAML with line numbers."""
