# A Python program that keeps objects in a module-level list.
import json

kept = []
for i in range(20000):
    kept.append({"id": i, "payload": "x" * (i % 200)})
print("python leaker:", len(json.dumps(kept[:100])), len(kept))
