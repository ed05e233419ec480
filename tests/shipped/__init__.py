"""What ships beside the code: deploy/ manifests, monitoring objects, the lock, diagrams, docs."""
