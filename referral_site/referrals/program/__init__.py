"""The program in force: reward rules, hold, attribution and offer, versioned."""
