"""Loopback fakes of the CRMs' REST APIs, served over HTTPS with a test CA, for the real clients."""
