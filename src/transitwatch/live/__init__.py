"""Running watch: incremental detectors over replays and RIS Live, and the alert channels."""
