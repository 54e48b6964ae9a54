"""Screenshots: the OCR engine, the lines it reads, and the customer's message without the chrome."""
