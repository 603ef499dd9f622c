"""The agent version reported in logs; the upstream release whose behaviour we match."""

AGENT_VERSION = "1.1.9"
