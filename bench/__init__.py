"""`make bench`: the onboarding flow measured against the embedded local stack (`python -m bench.run`)."""
