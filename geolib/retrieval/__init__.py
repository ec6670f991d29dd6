"""Text -> tile retrieval (CVG-Text / CrossText2Loc): a CLIP dual encoder on open_clip, long-text position
stretching, contrastive training, Recall@K and L@d evaluation, a searchable index and explanations."""
