"""Figures: training (filled by its chapter's issue)."""
