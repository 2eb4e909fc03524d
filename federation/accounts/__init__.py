"""Members and admins without a shell: invitations, join requests, password resets, domain blocks, instance
settings and the notifications a member reads on the web."""
