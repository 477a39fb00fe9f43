"""Load: requests of exact size, and the generator that sends them at a concurrency or rate."""
