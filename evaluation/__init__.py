"""Offline evaluation: the leave-last-out protocol, its metrics and the baseline recommenders."""
