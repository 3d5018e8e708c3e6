"""got: train GOT-OCR2.0-style end-to-end OCR models."""
