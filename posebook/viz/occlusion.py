"""Figures: occlusion (filled by its chapter's issue)."""
