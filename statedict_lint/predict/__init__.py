"""Symbolic state_dict prediction.

Public entry point::

    from statedict_lint.predict.api import predict
    prediction = predict("model.py", "GPT", {"config.n_layer": 2})

returns a ``statedict_lint.predict.template.Prediction``.
"""
