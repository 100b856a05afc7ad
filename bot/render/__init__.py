"""Pure presentation: answers, context, status and reports as Telegram HTML, and answers for a terminal.

Every string returned for Telegram is valid Telegram HTML and, once parsed, at most 4096 code points
(raw text also stays under Telegram's 32768-byte cap). Quotes are the passages' exact text,
HTML-escaped, in their original script.
"""
