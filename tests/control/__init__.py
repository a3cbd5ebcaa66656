"""Stop and resync while a cell is busy, against a real ipykernel (no browser)."""
