"""Questionnaires as respondents see them."""
