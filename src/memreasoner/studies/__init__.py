"""Studies: many models or variants trained, tested on the same samples, and tabulated.

    compare      `memreasoner compare`: MemReasoner and its peers under one training budget
    experiments  `memreasoner experiment NAME`: the paper's experiments, as MemReasoner training flags
    common       what both do the same way: train once (or resume), build the test sets once, write results

They train through `memreasoner.training` and evaluate through `memreasoner.evaluate`, as the
`train` and `eval` commands do, so a study runs exactly what a user would run by hand.
"""
