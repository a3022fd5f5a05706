"""Test doubles: loopback servers and fake commands."""
