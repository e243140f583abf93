"""The alert engine: rules evaluated on fresh scrape data, silences and inhibition, and notifications."""
