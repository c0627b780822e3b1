"""Backend: the tensor IR, shared statistics, rewrite rules, lowering, the Paddle printer, emission
through templates, and writing generated files. Stands on the frontend only."""
