"""Sessions: the store of trials on disk, headless replay, and export of a tuned kernel file."""
