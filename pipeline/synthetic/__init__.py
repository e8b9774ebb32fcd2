"""Synthetic clinics: cohorts that follow the contract, with a known future."""
