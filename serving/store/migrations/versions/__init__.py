"""The warnings store's schema revisions, applied in order by `WarningStore` at start-up."""
