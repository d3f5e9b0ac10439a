from prefzoo.feedback.base import Feedback, FeedbackError, RuleFeedback

__all__ = ["Feedback", "FeedbackError", "RuleFeedback"]
