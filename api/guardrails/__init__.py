"""Guardrails: the rules a team's requests and answers are judged by (rules.py), the
recognisers of personal data and secrets they use (recognizers.py), and how output rules
follow a stream (stream.py). The gateway applies them: api/gateway/guardrails.py."""
