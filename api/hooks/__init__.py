"""Claude Code's HTTP hooks: POST /hooks/claude-code, and the settings that point a
Claude Code installation at it (`aigw hooks print`)."""
