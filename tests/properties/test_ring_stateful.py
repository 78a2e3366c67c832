"""The ring under a schedule Hypothesis chooses, checked against a plain dict model.

The state machine, its rules and invariants are shipped as ring.testing.machine.RingMachine (so
users can run and extend it); the model and the failure budget are in ring.testing.model. Here it
runs under the profile tests/conftest.py loads (RING_HYPOTHESIS_PROFILE: dev, ci, long).
"""

from ring.testing.machine import RingMachine

TestRing = RingMachine.TestCase
