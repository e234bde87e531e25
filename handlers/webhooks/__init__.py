"""Webhook receivers for Google push and Microsoft Graph change/lifecycle notifications."""
