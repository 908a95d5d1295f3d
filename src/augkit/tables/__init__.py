"""Patient tables: ``encoding`` turns a table row into a network vector and back (tabimage
training, table evaluation); ``patients`` keeps one row per patient of a slice dataset."""
