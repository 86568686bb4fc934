"""The numbacnn visual debugger: ``python -m gui`` (DearPyGui; ``pip install -e ".[gui]"``).

Watch a network learn batch by batch: curves, filters, feature maps, weight and gradient norms and
histograms, the confusion matrix. ``worker`` trains on one thread through numbacnn's public Trainer,
``views`` draws its snapshots, ``app`` holds the command line and the frame loop.
"""
