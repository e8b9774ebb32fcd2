"""The pages: the risk page, the evaluation report and the model card."""
