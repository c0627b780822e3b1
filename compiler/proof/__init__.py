"""Proof: evaluating formulas at high precision (tape, evaluator), checking claims, and the test
oracle. Stands on the frontend only."""
