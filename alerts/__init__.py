"""Alert rules, lifecycle and routing: pure cores fed by the alarm lane."""
