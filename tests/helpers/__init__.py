"""Builders of small real components shared by the project's tests."""
