"""Figures: model (filled by its chapter's issue)."""
