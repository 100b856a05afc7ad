"""The Telegram edge: the PTB Application, its handlers, and every call to the Bot API."""
