"""The recommendation engine: the model's scoring form, its training, its FAISS index and loading."""
