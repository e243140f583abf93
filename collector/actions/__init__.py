"""Remote actions, the central side: the signing key, signed envelopes, and the client of the exporters'
actions listeners. The exporter decides what can run; this side only names an action and its parameters.
"""
