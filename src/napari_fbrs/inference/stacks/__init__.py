"""Objects through Z or T: propagation slice after slice, and what stops it."""
