"""Policy unit tests (`sla-engine test`) and backtests (`sla-engine diff`).

Policies change by pull request; these two commands tell a reviewer that a change does what it
says (tests beside the policies) and what it would have done to past leads (diff).
"""
