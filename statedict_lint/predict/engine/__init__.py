"""The engine of the predictor, by concern; ``predict/evaluator.py`` composes it into ``Evaluator``."""
