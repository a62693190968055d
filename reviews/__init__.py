"""Verified reviews of venues: ratings, merchant replies, reports and moderation."""
