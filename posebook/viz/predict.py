"""Figures: predict (filled by its chapter's issue)."""
