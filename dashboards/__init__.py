"""What people look at: the live map and the monthly trends."""
