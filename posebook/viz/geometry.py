"""Figures: geometry (filled by its chapter's issue)."""
