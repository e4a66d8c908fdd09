"""Contacts, visitor links and the encryption of personal data."""
