"""Small local servers standing in for what is outside our control."""
