"""Where each customer can be reached now: per channel, whether the hub may contact them and until when."""
