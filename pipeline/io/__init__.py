"""Reading the clinic's exports and writing tables and pages, atomically."""
