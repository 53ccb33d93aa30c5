"""In-memory adapters for every port: the whole core runs without a database, and library
users can use these in their own tests."""
