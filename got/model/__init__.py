"""Model: SAM/ViTDet encoder, projector, GOTModel, loss, generation and weight conversion."""
