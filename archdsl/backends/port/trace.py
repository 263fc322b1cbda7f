"""The order in which a network uses its modules: forward pre-hooks on one small random input."""

from __future__ import annotations

from .run import NO_INPUT, EvalMode, candidate_inputs, failed_run, run


def trace(models: list, example_input):
    """(inputs, [use order per model]) for the first candidate input every model accepts, or (None, reason).

    A use order maps id(module) -> the rank of its first call, for every module that owns tensors."""
    last = NO_INPUT
    for xs in candidate_inputs(models, example_input):
        orders = []
        try:
            with EvalMode(models):
                for model in models:
                    order: dict = {}
                    hooks = []

                    def hook(mod, args, order=order):  # returns None: the input is left alone
                        if id(mod) not in order:
                            order[id(mod)] = len(order)

                    for m in model.modules():
                        if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False)):
                            hooks.append(m.register_forward_pre_hook(hook))
                    try:
                        run(model, xs)
                    finally:
                        for h in hooks:
                            h.remove()
                    orders.append(order)
        except Exception as e:  # this input does not fit one of the models: try the next
            last = failed_run(xs, e)
            continue
        return xs, orders
    return None, last
