"""Loading and rebuilding models with the installed Keras (live): load_model, SavedModels in Keras 3, upgrade."""
