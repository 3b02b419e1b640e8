"""Scoring generators: js-n and word metrics, the evaluator, sampling, plots."""
