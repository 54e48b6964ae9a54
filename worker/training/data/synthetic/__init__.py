"""Synthetic training data written for this project: screenshots, voice notes and vague wordings of Banking77 requests."""
