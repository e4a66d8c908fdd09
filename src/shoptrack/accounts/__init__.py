"""The dashboard's users: passwords (argon2), the sites each may see, sign-in sessions and the
slowing of repeated failed sign-ins."""
