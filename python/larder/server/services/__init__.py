"""Domain services: plain functions over a database session and a principal; no HTTP here."""
