"""Figures: data (filled by its chapter's issue)."""
