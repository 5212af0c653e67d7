"""What the clouds charge: the price catalogs (the one shipped in data/ and users' CSVs)."""
