"""Admin for 通办 lists, list entries, import batches (upload, preview, confirm), matching and export."""
