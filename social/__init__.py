"""Share links: a deal shared by an account, its landing page, QR code and visit counts."""
