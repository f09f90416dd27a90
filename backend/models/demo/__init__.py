"""The demo profile's small models, built locally."""
