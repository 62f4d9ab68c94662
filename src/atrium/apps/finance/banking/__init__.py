"""Bank statements: reading the files banks deliver and suggesting which open items each line settles."""
