"""Evaluation of OCR outputs."""
