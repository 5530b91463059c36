"""The only package that touches SQLite files and the data/cache directories."""
