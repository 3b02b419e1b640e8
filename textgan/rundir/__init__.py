"""A run directory: its config.json, its checkpoints (one schema, with the upgrades of older
formats), metrics.jsonl (one schema of names), samples.txt, floor.json and status.json (why
training stopped)."""
