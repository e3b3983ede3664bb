"""Where data lives: local folders and S3 prefixes, run folders, and cache fingerprints."""
