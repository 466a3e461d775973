"""Accounts: users, the caller's profile and password, and developers' client secrets."""
