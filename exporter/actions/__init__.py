"""Remote actions: commands this host lets the collector run, named in a local file, asked for by signed
envelopes.

The host decides what can run (``spec``: the actions file); the central side only names an action and its
parameters in an Ed25519-signed envelope (``envelope``: the verifier of ACTIONS_PROTOCOL); ``runner``
executes the fixed argv without a shell; ``listener`` serves it; ``audit`` logs every attempt.
"""
