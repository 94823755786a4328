"""Figures: results (filled by its chapter's issue)."""
